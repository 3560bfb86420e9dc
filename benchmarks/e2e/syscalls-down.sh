#!/usr/bin/env bash
# Second-device download of 10,000 small files (1-8 KiB, 100 folders), one appliance, client builds side by side
# (issue 11). Client A uploads once; then each client build in CLIENTS downloads into a fresh folder and state, in
# turn, ROUNDS times (alternating pairs), under /usr/bin/time; with STRACE=1 the first round of each runs under
# strace -c -f instead (syscall counts per downloaded file). Release builds:
#   benchmarks/e2e/syscalls-down.sh APPLIANCE_ROOT /tmp/sys-work ROUNDS CLIENT_ROOT...
set -euo pipefail
approot=$1; w=$2; rounds=$3; shift 3
app=$approot/src/Appliance/bin/Release/net10.0/Dropbox.Appliance.dll
rm -rf "$w"; mkdir -p "$w/src"
dotnet "$app" standalone --data "$w/appliance" --port 0 > "$w/appliance.log" 2>&1 &
apid=$!
trap 'kill $apid 2>/dev/null || true' EXIT
for i in $(seq 1 600); do grep -q '^ready: ' "$w/appliance.log" && grep -q '^token: ' "$w/appliance.log" && break; sleep 0.1; done
url=$(grep '^ready: ' "$w/appliance.log" | head -1 | cut -c8-); tok=$(grep '^token: ' "$w/appliance.log" | head -1 | cut -c8-)
python3 - "$w/src" <<'PY'
import os, random, sys
r = random.Random(11)
for i in range(10000):
    d = os.path.join(sys.argv[1], f"d{i%100:03d}"); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, f"f{i:05d}.bin"), "wb").write(r.randbytes(r.randint(1024, 8192)))
PY
cli0=$1/src/SyncClient/bin/Release/net10.0/Dropbox.SyncClient.dll
dotnet "$cli0" login --server "$url" --token "$tok" --folder "$w/src" --state "$w/client-a" --device a >/dev/null
dotnet "$cli0" sync --once --json --state "$w/client-a" | tail -1
for round in $(seq 1 "$rounds"); do
  n=0
  for root in "$@"; do
    n=$((n+1)); cli=$root/src/SyncClient/bin/Release/net10.0/Dropbox.SyncClient.dll; b=$w/b$n-$round
    rm -rf "$b" "$w/state-$n-$round"; mkdir -p "$b"
    dotnet "$cli" login --server "$url" --token "$tok" --folder "$b" --state "$w/state-$n-$round" --device "b$n$round" >/dev/null
    sync; echo "== round $round client $n ($root) load: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ "${STRACE:-0}" = 1 ] && [ "$round" = 1 ]; then
      strace -c -f -o "$w/strace-$n.txt" dotnet "$cli" sync --once --json --state "$w/state-$n-$round" | tail -1
      head -30 "$w/strace-$n.txt"; tail -1 "$w/strace-$n.txt"
    else
      /usr/bin/time -f "elapsed %e s user %U s sys %S s maxrss %M KB" dotnet "$cli" sync --once --json --state "$w/state-$n-$round" | tail -1 | cut -c1-200
    fi
    diff -rq "$w/src" "$b" >/dev/null && echo verified
    rm -rf "$b"
  done
done
