#!/usr/bin/env bash
# Profiles the second-device download (issue 11): a standalone appliance (Release build of ROOT), client A uploads a
# 256 MiB random file and 5,000 files of 1-8 KiB, then client B downloads them under /usr/bin/time (with "perf", under
# perf record -g, the appliance recorded too; DOTNET_PerfMapEnabled=1). Prints B summary, CPU, the appliance CPU, verified.
#   benchmarks/e2e/profile-down.sh "$PWD" /tmp/down-work [perf]
set -euo pipefail
root=$1; w=$2; prof=${3:-}
app=$root/src/Appliance/bin/Release/net10.0/Dropbox.Appliance.dll
cli=$root/src/SyncClient/bin/Release/net10.0/Dropbox.SyncClient.dll
rm -rf "$w"; mkdir -p "$w/src/big" "$w/b"
export DOTNET_PerfMapEnabled=1
dotnet "$app" standalone --data "$w/appliance" --port 0 > "$w/appliance.log" 2>&1 &
apid=$!
for i in $(seq 1 600); do grep -q '^ready: ' "$w/appliance.log" && grep -q '^token: ' "$w/appliance.log" && break; sleep 0.1; done
url=$(grep '^ready: ' "$w/appliance.log" | head -1 | cut -c8-); tok=$(grep '^token: ' "$w/appliance.log" | head -1 | cut -c8-)
head -c $((256*1024*1024)) /dev/urandom > "$w/src/big/big.bin"
python3 - "$w/src" <<'PY'
import os, random, sys
r = random.Random(11)
for i in range(5000):
    d = os.path.join(sys.argv[1], "small", f"d{i%100:03d}"); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, f"f{i:05d}.bin"), "wb").write(r.randbytes(r.randint(1024, 8192)))
PY
sleep 3
dotnet "$cli" login --server "$url" --token "$tok" --folder "$w/src" --state "$w/client-a" --device a >/dev/null
dotnet "$cli" sync --once --json --state "$w/client-a" | tail -1
dotnet "$cli" login --server "$url" --token "$tok" --folder "$w/b" --state "$w/client-b" --device b >/dev/null
sync; sleep 2
a0=$(awk '{print $14+$15}' /proc/$apid/stat)
if [ -n "$prof" ]; then
  perf record -F 999 -g -p $apid -o "$w/app.perf.data" 2>/dev/null & ppid=$!
  /usr/bin/time -v perf record -F 999 -g -o "$w/cli.perf.data" -- dotnet "$cli" sync --once --json --state "$w/client-b" > "$w/b.out" 2> "$w/b.time"
  kill -INT $ppid; wait $ppid || true
else
  /usr/bin/time -v dotnet "$cli" sync --once --json --state "$w/client-b" > "$w/b.out" 2> "$w/b.time"
fi
a1=$(awk '{print $14+$15}' /proc/$apid/stat)
tail -1 "$w/b.out"
grep -E "Elapsed|User time|System time|Maximum resident" "$w/b.time"
echo "appliance CPU s: $(echo "($a1-$a0)/100" | bc -l)"
cmp "$w/src/big/big.bin" "$w/b/big/big.bin" && diff -rq "$w/src/small" "$w/b/small" && echo verified
kill $apid; wait $apid 2>/dev/null || true
