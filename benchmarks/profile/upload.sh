#!/bin/bash
# Profiles one `sync --once` upload into a fresh `standalone` appliance (127.0.0.1 only), or a second device's download
# of it, as used for the README's "Where the time goes now". Build first: dotnet build -c Release src/Appliance, and
# the client natively (dotnet publish -c Release src/SyncClient -p:PublishAot=true -o src/SyncClient/bin/native).
#
#   upload.sh cpu    ROOT [DATA]        client wall/CPU/faults/peak RSS, appliance CPU and faults over the upload
#   upload.sh pairs  ROOT_A ROOT_B [N] [DATA]   N (3) alternating `cpu` runs of two checkouts (A's client with A's appliance);
#                                       or of one checkout twice, with APPLIANCE_ENV_A/_B and CLIENT_ENV_A/_B (added to
#                                       APPLIANCE_ENV and CLIENT_ENV for A's and B's runs) to A/B an environment
#   upload.sh perf   ROOT OUT [DATA]    perf record -F 1999 -g of the appliance (JIT, perf map) -> OUT.txt (perf script);
#                                       R2R=1 profiles the precompiled code as it runs (named by library only): JIT-compiled
#                                       for names, the compiler itself is ~11% of the small files' samples (1% precompiled)
#   upload.sh faults ROOT OUT [DATA]    perf record -e page-faults -c 1 of the client and of the appliance -> OUT{,-ap}.txt
#   upload.sh timeline ROOT OUT [DATA]  perf record -e cpu-clock -a (every CPU; root) over the upload -> OUT.txt: per 100 ms
#                                       from the client's start, the share of the machine the client, the appliance,
#                                       anything else (perf, kernel threads) and nothing had (timeline.py)
#   upload.sh calls  ROOT OUT [DATA]    as cpu, and the nodes' /metrics pages before and after (OUT-before.txt, OUT-after.txt):
#                                       per gRPC method the calls and their mean handling time, the appliance's collections
#                                       and CPU over the upload (calls.py)
#   upload.sh down   ROOT [DATA]        as cpu, then a second client downloads it all: its wall/CPU/faults, the appliance's
#   upload.sh down-pairs ROOT_A ROOT_B [N] [DATA]   N (3) alternating `down` runs, as `pairs` (the _A/_B variables too)
#   upload.sh grown  ROOT BASE NEW      BASE uploaded (untimed), the appliance restarted on the same port (RocksDB flushes
#                                       what it recovers: the records in sorted tables; not warmed again), then NEW's
#                                       upload timed as `cpu` times it. BASE and NEW need different folder names
#
# DATA is a file or a folder to upload (default: a 1 GiB random file made once at $TMPDIR/profile-1gib.bin). Each run
# first uploads 64 MiB of other random data into the appliance, so that its JIT and first allocations are behind it;
# COLD=1 (any non-empty value) skips that (the peer runner's first scenario meets a fresh appliance; a cold `down` has
# no 64 MiB file to download either). APPLIANCE_ENV and CLIENT_ENV ("NAME=VALUE ...", no spaces in a value) are added to
# the appliance's environment (last, so they win over its launch profile's and this script's) and to the client's.
# Each run works in a new folder, $TMPDIR/profile-MODE.TIME, and removes none: on ext4 the file creates soon after a
# mass deletion cost their creator an inode-table scan (four back-to-back runs that each removed the last one's 10,000
# files went from 3.7 to 8.6 s of client system time). Remove $TMPDIR/profile-* when done (a `down` run of the GiB
# leaves over 2 GiB).
set -euo pipefail
tmp=${TMPDIR:-/tmp}

data_or_default() {
  if [ -n "${1:-}" ]; then echo "$1"; return; fi
  local big=$tmp/profile-1gib.bin
  [ -f "$big" ] || head -c 1073741824 /dev/urandom > "$big"
  echo "$big"
}

# profile_env ROOT: the environment ROOT's appliance launch profile sets, one NAME=VALUE a line (`dotnet run` applies it
# over the shell's), as the peer runner reads it (peers.launch_profile_env); nothing, with a warning, for a checkout
# without one (its appliance then runs with the runtime's defaults: mind it when pairing it with one that has it)
profile_env() {
  python3 -c 'import os, sys
sys.path.insert(0, sys.argv[1])
from peers import LAUNCH_SETTINGS, launch_profile_env
if not os.path.isfile(os.path.join(sys.argv[2], LAUNCH_SETTINGS)):
    sys.exit(f"upload.sh: {sys.argv[2]} has no appliance launch profile: its appliance starts without one'"'"'s environment")
for k, v in launch_profile_env(sys.argv[2]).items():
    print(f"{k}={v}")' "$(dirname "$0")/../e2e" "$1" || true
}

# launch ROOT WORK PORT LOG: the appliance on WORK/appliance (its pid in WORK/appliance.pid), once it says it is ready;
# with its launch profile's environment, as the README's `dotnet run` starts it
launch() {
  local root=$1 work=$2 port=$3 log=$4
  local -a profile extra; mapfile -t profile < <(profile_env "$root"); to_env extra "${APPLIANCE_ENV:-}"
  env ${profile[@]+"${profile[@]}"} DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 DOTNET_ReadyToRun=${R2R:-1} ${extra[@]+"${extra[@]}"} nohup dotnet "$root/src/Appliance/bin/Release/net10.0/Dropbox.Appliance.dll" \
    standalone --data "$work/appliance" --port "$port" > "$log" 2>&1 &
  echo $! > "$work/appliance.pid"
  for _ in $(seq 1 300); do grep -q '^ready: ' "$log" && break; sleep 0.1; done
  if ! grep -q '^ready: ' "$log"; then
    echo "upload.sh: the appliance is not ready (its ports taken?); see $log" >&2; kill "$(cat "$work/appliance.pid")"; exit 1
  fi
}

# to_env ARRAY WORDS: the array named ARRAY set to WORDS split at spaces (no globbing), each checked to be NAME=VALUE
to_env() {
  local -n words=$1; read -ra words <<< "${2:-}"
  local w; for w in ${words[@]+"${words[@]}"}; do
    [[ $w == [A-Za-z_]*=* ]] || { echo "upload.sh: '$w' (in an environment variable) is not NAME=VALUE" >&2; exit 2; }
  done
}

# joined A B: A and B with a space between when both are set
joined() { if [ -n "${1:-}" ] && [ -n "${2:-}" ]; then echo "$1 $2"; else echo "${1:-}${2:-}"; fi; }

# as_side A|B FUNC ARGS...: FUNC run with that side's APPLIANCE_ENV_A/_B and CLIENT_ENV_A/_B added to the shared ones
as_side() {
  local side_appliance=APPLIANCE_ENV_$1 side_client=CLIENT_ENV_$1; shift
  APPLIANCE_ENV=$(joined "${APPLIANCE_ENV:-}" "${!side_appliance:-}") CLIENT_ENV=$(joined "${CLIENT_ENV:-}" "${!side_client:-}") "$@"
}

# label ROOT: how a result line names the run: ROOT, the environments added and a cold start, if any
label() { echo "$1${APPLIANCE_ENV:+ [appliance $APPLIANCE_ENV]}${CLIENT_ENV:+ [client $CLIENT_ENV]}${COLD:+ [cold]}"; }

# client ARGS...: ROOT's client (client_cmd, set by start: the binary, through env only when CLIENT_ENV is set)
client() { "${client_cmd[@]}" "$@"; }

# timed_sync STATE: one `sync --once` of the client with state STATE under /usr/bin/time: its wall, CPU, faults, peak RSS
timed_sync() {
  /usr/bin/time -f "client wall %e s user %U s sys %S s faults %R peak RSS %M KB" "${client_cmd[@]}" sync --once --json --state "$1" 2>&1 > /dev/null | tail -1
}

# start ROOT WORK: a fresh appliance (its pid in WORK/appliance.pid) and a logged-in client, warmed by a 64 MiB upload
# (unless COLD is set)
start() {
  local root=$1 work=$2
  if [ -e "$work" ]; then echo "upload.sh: $work exists; each run needs a new folder" >&2; exit 1; fi
  mkdir -p "$work/src" "$work/warm"
  launch "$root" "$work" 0 "$work/appliance.log"
  url=$(grep '^ready: ' "$work/appliance.log" | cut -c8-); token=$(grep '^token: ' "$work/appliance.log" | cut -c8-)
  local bin="$root/src/SyncClient/bin/native/Dropbox.SyncClient" cenv=(); to_env cenv "${CLIENT_ENV:-}"
  if [ ${#cenv[@]} -eq 0 ]; then client_cmd=("$bin"); else client_cmd=(env "${cenv[@]}" "$bin"); fi
  client login --server "$url" --token "$token" --folder "$work/src" --state "$work/client" --device a > /dev/null
  if [ -z "${COLD:-}" ]; then
    head -c 67108864 /dev/urandom > "$work/src/warm.bin"; touch -d "1 minute ago" "$work/src/warm.bin"
    client sync --once --json --state "$work/client" > /dev/null 2>&1
  fi
}

place() { # place DATA WORK: hard link (or copy) the data into the synced folder
  if [ -d "$1" ]; then cp -a "$1" "$2/src/"; else ln "$1" "$2/src/" 2>/dev/null || cp "$1" "$2/src/"; fi
  sync; sleep 1
}

stat_of() { awk '{print $10, $14+$15}' "/proc/$1/stat"; }

cpu() {
  local root=$1 data work=$tmp/profile-cpu.$(date +%s%N)
  data=$(data_or_default "${2:-}")
  start "$root" "$work"; place "$data" "$work"
  local ap; ap=$(cat "$work/appliance.pid")
  read -r f0 c0 < <(stat_of "$ap")
  local r; r=$(timed_sync "$work/client")
  read -r f1 c1 < <(stat_of "$ap")
  echo "$(label "$root"): $r; appliance CPU $(( (c1 - c0) * 1000 / $(getconf CLK_TCK) )) ms faults $(( f1 - f0 )); load $(cut -d' ' -f1 /proc/loadavg)"
  kill "$ap"; wait "$ap" 2> /dev/null || true
}

# down ROOT [DATA]: DATA uploaded (untimed), then a second client logs in and downloads everything; checked byte for byte
# (but the folder identity file, which is each folder's own)
down() {
  local root=$1 data work=$tmp/profile-down.$(date +%s%N)
  data=$(data_or_default "${2:-}")
  start "$root" "$work"; place "$data" "$work"
  client sync --once --json --state "$work/client" > /dev/null 2>&1
  mkdir -p "$work/dst"
  client login --server "$url" --token "$token" --folder "$work/dst" --state "$work/client-b" --device b > /dev/null
  sync; sleep 3
  local ap; ap=$(cat "$work/appliance.pid")
  read -r f0 c0 < <(stat_of "$ap")
  local r; r=$(timed_sync "$work/client-b")
  read -r f1 c1 < <(stat_of "$ap")
  local same=verified; diff -r -q -x .dropbox-folder-id "$work/src" "$work/dst" > /dev/null || same="DIFFERENT"
  echo "$(label "$root"): download $r; appliance CPU $(( (c1 - c0) * 1000 / $(getconf CLK_TCK) )) ms faults $(( f1 - f0 )); $same; load $(cut -d' ' -f1 /proc/loadavg)"
  kill "$ap"; wait "$ap" 2> /dev/null || true
}

# grown ROOT BASE NEW: an appliance that already holds BASE (a grown store), then NEW's upload timed
grown() {
  local root=$1 base=$2 new=$3 work=$tmp/profile-grown.$(date +%s%N)
  start "$root" "$work"; place "$base" "$work"
  client sync --once --json --state "$work/client" > /dev/null 2>&1
  local ap; ap=$(cat "$work/appliance.pid"); kill "$ap"; wait "$ap" 2> /dev/null || true
  launch "$root" "$work" "${url##*:}" "$work/appliance2.log"; ap=$(cat "$work/appliance.pid")
  local tables; tables=$(find "$work/appliance" -name '*.sst' | wc -l)
  place "$new" "$work"
  read -r f0 c0 < <(stat_of "$ap")
  local r; r=$(timed_sync "$work/client")
  read -r f1 c1 < <(stat_of "$ap")
  echo "$(label "$root"): into a store of $tables tables: $r; appliance CPU $(( (c1 - c0) * 1000 / $(getconf CLK_TCK) )) ms faults $(( f1 - f0 )); load $(cut -d' ' -f1 /proc/loadavg)"
  kill "$ap"; wait "$ap" 2> /dev/null || true
}

case "${1:-}" in
  cpu) cpu "$2" "${3:-}" ;;
  pairs) for _ in $(seq 1 "${4:-3}"); do as_side A cpu "$2" "${5:-}"; as_side B cpu "$3" "${5:-}"; done ;;
  perf)
    work=$tmp/profile-perf.$(date +%s%N); data=$(data_or_default "${4:-}")
    R2R=${R2R:-0} start "$2" "$work"; place "$data" "$work"; ap=$(cat "$work/appliance.pid")
    perf record -F 1999 -g -p "$ap" -o "$3.data" 2> /dev/null & pp=$!; sleep 0.3
    client sync --once --json --state "$work/client" > /dev/null 2>&1
    kill -INT $pp; wait $pp || true; kill "$ap"
    perf script -i "$3.data" 2> /dev/null > "$3.txt" ;;
  faults)
    work=$tmp/profile-faults.$(date +%s%N); data=$(data_or_default "${4:-}")
    R2R=0 start "$2" "$work"; place "$data" "$work"; ap=$(cat "$work/appliance.pid")
    perf record -e page-faults -c 1 -g -p "$ap" -o "$3-ap.data" 2> /dev/null & pp=$!; sleep 0.3
    perf record -e page-faults -c 1 -g -o "$3.data" -- "${client_cmd[@]}" sync --once --json --state "$work/client" > /dev/null 2>&1
    kill -INT $pp; wait $pp || true; kill "$ap"
    perf script -i "$3.data" 2> /dev/null > "$3.txt"; perf script -i "$3-ap.data" 2> /dev/null > "$3-ap.txt" ;;
  calls)
    work=$tmp/profile-calls.$(date +%s%N); data=$(data_or_default "${4:-}")
    start "$2" "$work"; place "$data" "$work"; ap=$(cat "$work/appliance.pid")
    trap 'kill "$ap" 2> /dev/null || true' EXIT # whatever fails below, no appliance is left to skew later runs
    pages() { # every node's page; a node that does not answer is said, and calls.py refuses pages without the series
      local u; for u in $(grep '^metrics: ' "$work/appliance.log" | cut -c10-); do curl -sf "$u" || echo "upload.sh: $u did not answer" >&2; done
    }
    pages > "$3-before.txt"; r=$(timed_sync "$work/client"); pages > "$3-after.txt"
    kill "$ap"; wait "$ap" 2> /dev/null || true
    echo "$(label "$2"): $r"
    python3 "$(dirname "$0")/calls.py" "$3-before.txt" "$3-after.txt" ;;
  down) down "$2" "${3:-}" ;;
  grown) grown "$2" "$3" "$4" ;;
  down-pairs) for _ in $(seq 1 "${4:-3}"); do as_side A down "$2" "${5:-}"; as_side B down "$3" "${5:-}"; done ;;
  timeline)
    work=$tmp/profile-timeline.$(date +%s%N); data=$(data_or_default "${4:-}")
    start "$2" "$work"; place "$data" "$work"; ap=$(cat "$work/appliance.pid")
    perf record -e cpu-clock -F 999 -a -o "$3.data" 2> "$3.perf.log" & pp=$!; sleep 0.3
    if ! kill -0 "$pp" 2> /dev/null; then
      echo "upload.sh: perf record -a did not start (it needs root or kernel.perf_event_paranoid <= 0); see $3.perf.log" >&2
      kill "$ap"; exit 1
    fi
    # env (if any) execs the client, so $! is the client's pid
    "${client_cmd[@]}" sync --once --json --state "$work/client" > /dev/null 2>&1 & client_pid=$!
    rc=0; wait "$client_pid" || rc=$?
    kill -INT "$pp"; wait "$pp" || true; kill "$ap"
    [ "$rc" = 0 ] || echo "upload.sh: the client exited $rc: the timeline is of a failed upload" >&2
    perf script -F pid,time -i "$3.data" 2> /dev/null | python3 "$(dirname "$0")/timeline.py" "$client_pid" "$ap" > "$3.txt"
    sed -n '1p;$p' "$3.txt" ;;
  *) sed -n '2,29p' "$0"; exit 2 ;;
esac
