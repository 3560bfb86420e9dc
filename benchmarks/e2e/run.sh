#!/usr/bin/env bash
# End-to-end comparison: this appliance's sync client against restic, rclone and rsync, on this machine,
# same data set, same disk. Prints a Markdown table; asserts nothing.
#
#   benchmarks/e2e/run.sh [SIZE_MIB]     (default 512)
#
# Scenarios, each timed with wall-clock seconds:
#   initial  - first copy of the data set (mixed: random binaries + compressible text)
#   noop     - the same command again with nothing changed
#   edit     - 4 KiB overwritten in the middle of the largest file, then sync again
# Every tool writes to a target on the same disk; the appliance runs as `standalone` on 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
size_mib=${1:-512}
work=$(mktemp -d /tmp/dropbox-e2e.XXXXXX)
stop_server() { # SIGTERM, wait (bounded) for a clean stop, then remove the data
  [ -n "${server_pid:-}" ] || return 0
  kill "$server_pid" 2>/dev/null || return 0
  for _ in $(seq 1 150); do kill -0 "$server_pid" 2>/dev/null || return 0; sleep 0.2; done
  echo "appliance did not stop within 30 s; killing it" >&2; kill -9 "$server_pid" 2>/dev/null || true
}
trap 'stop_server; rm -rf "$work"' EXIT

need=()
for t in restic rclone rsync; do command -v "$t" >/dev/null || need+=("$t"); done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "building (Release)..." >&2
dotnet build -c Release "$root/src/MetadataNode" -v q -nologo >/dev/null
dotnet build -c Release "$root/src/SyncClient" -v q -nologo >/dev/null
meta_dll=$(ls "$root"/src/MetadataNode/bin/Release/net10.0/Dropbox.MetadataNode.dll)
client_dll=$(ls "$root"/src/SyncClient/bin/Release/net10.0/Dropbox.SyncClient.dll)

# --- data set -------------------------------------------------------------------------------------
src="$work/src"; mkdir -p "$src/bin" "$src/text"
big=$((size_mib / 2)); rest=$((size_mib - big))
head -c $((big * 1024 * 1024)) /dev/urandom > "$src/bin/large.bin"
for i in $(seq 1 $((rest / 8))); do head -c $((4 * 1024 * 1024)) /dev/urandom > "$src/bin/r$i.bin"; done
# compressible text: repeated source files of this repo
for i in $(seq 1 $((rest / 8))); do
  find "$root/src" -name '*.cs' -exec cat {} + | head -c $((4 * 1024 * 1024)) > "$src/text/t$i.txt"
done
sync
bytes=$(du -sb "$src" | cut -f1)
echo "data set: $((bytes / 1048576)) MiB in $(find "$src" -type f | wc -l) files" >&2

edit() { printf 'EDITED%.0s' $(seq 1 683) | dd of="$src/bin/large.bin" bs=1 seek=$((big * 512 * 1024)) conv=notrunc status=none; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }
declare -A T

run3() { # name, command...
  local name=$1; shift
  local t0
  t0=$(now); "$@" >/dev/null 2>&1; T[$name,initial]=$(since "$t0")
  t0=$(now); "$@" >/dev/null 2>&1; T[$name,noop]=$(since "$t0")
}

# --- rsync (local copy, delta algorithm forced on so it behaves as over a network) ------------------
mkdir -p "$work/rsync"
run3 rsync rsync -a --no-whole-file "$src/" "$work/rsync/"
# --- rclone (local to local sync, checksums off: size+mtime like the appliance) ---------------------
mkdir -p "$work/rclone"
run3 rclone rclone sync "$src" "$work/rclone"
# --- restic (dedup backup into a local repository) --------------------------------------------------
export RESTIC_PASSWORD=bench RESTIC_REPOSITORY="$work/restic"
restic init >/dev/null
run3 restic restic backup -q "$src"
# --- this appliance ------------------------------------------------------------------------------
port=$((20000 + RANDOM % 20000))
dotnet "$meta_dll" standalone --data "$work/appliance" --port "$port" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do grep -q '^ready:' "$work/server.log" && break; sleep 0.1; done
token=$(sed -n 's/^token: //p' "$work/server.log" | head -1)
dotnet "$client_dll" login --server "http://127.0.0.1:$port" --token "$token" --folder "$src" --state "$work/client-state" >/dev/null
run3 appliance dotnet "$client_dll" sync --once --state "$work/client-state"

# --- edit scenario for everyone -----------------------------------------------------------------
edit
t0=$(now); rsync -a --no-whole-file "$src/" "$work/rsync/" >/dev/null; T[rsync,edit]=$(since "$t0")
t0=$(now); rclone sync "$src" "$work/rclone" >/dev/null 2>&1; T[rclone,edit]=$(since "$t0")
t0=$(now); restic backup -q "$src" >/dev/null; T[restic,edit]=$(since "$t0")
t0=$(now); dotnet "$client_dll" sync --once --json --state "$work/client-state" > "$work/edit.json"; T[appliance,edit]=$(since "$t0")
# The edit must really have gone up (a file changed in the last 2 s would wait for the stability rule first).
grep -Eq '"filesUploaded": ?1[,}]' <(tail -n 1 "$work/edit.json") || { echo "the appliance did not upload the edited file: $(tail -n 1 "$work/edit.json")" >&2; exit 1; }

echo
echo "| tool | initial (s) | MB/s | no-op (s) | 4 KiB edit (s) |"
echo "|---|---:|---:|---:|---:|"
for tool in appliance rsync rclone restic; do
  i=${T[$tool,initial]}
  printf '| %s | %.2f | %.0f | %.2f | %.2f |\n' "$tool" "$i" "$(awk -v b="$bytes" -v t="$i" 'BEGIN{print b/1e6/t}')" "${T[$tool,noop]}" "${T[$tool,edit]}"
done
echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; data: $((bytes / 1048576)) MiB in $(find "$src" -type f | wc -l) files; $(date -u +%F)"
