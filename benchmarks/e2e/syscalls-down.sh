#!/usr/bin/env bash
# Second-device download of 10,000 small files (1-8 KiB, 100 folders), one appliance, client builds side by side
# (issue 11). Client A uploads once; then each client build in CLIENTS downloads into a fresh folder and state, in
# turn, ROUNDS times (alternating pairs), under /usr/bin/time; with STRACE=1 the first round of each runs under
# strace -c -f instead (syscall counts per downloaded file). Release builds:
#   benchmarks/e2e/syscalls-down.sh APPLIANCE_ROOT /tmp/sys-work ROUNDS CLIENT_ROOT...
# Measured 2026-12-03 (main 98162fb vs down26, 2 shared cores, load 32-60 from other jobs, SyncClient unit tests running
# beside rounds 2-4): strace -c -f of the 10,000-file download, all calls 315,091 vs 214,930; without the thread calls
# (futex, sched_yield, epoll_wait, poll) 27.2 vs 18.2 a file. Per file, main: lstat 9.0, geteuid 3.0, stat 2.0,
# flock 2.0, rename 1, mkdir 1, openat/close/read/lseek/utimensat/fstat 1 each; down26: readlink 4.05, flock 2.0, fstat
# 2.0, renameat2 1, getpid 1 (the random temp name), lstat 1, openat/close/lseek/utimensat 1 each; mkdir 100 (one a
# folder), fsync 146 vs 126 (+1 a batch: the sync folder, holding the 100 new folders). Client CPU user+sys, 3 pairs
# alternating: main 4.47 / 4.36 / 4.31 s, down26 3.70 / 4.64 / 4.03 s (noise of the shared machine is the same size).
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
