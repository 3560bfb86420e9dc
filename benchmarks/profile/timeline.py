#!/usr/bin/env python3
"""Who used the machine's CPUs, interval by interval: reads `perf script -F pid,time` of a system-wide
`perf record -e cpu-clock -a` (a timer event, so an idle CPU is sampled too, as pid 0) and prints, per interval from the
client's first sample to its last, the share of all CPUs the client, the appliance, anything else (perf itself, kernel
threads working for either) and nothing (idle) had, then the shares over that whole span. Used by `upload.sh timeline`.

    timeline.py CLIENT_PID APPLIANCE_PID [INTERVAL_MS] < perf-script-output
"""
import collections
import sys

NAMES = ["client", "appliance", "other", "idle"]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    client, appliance = sys.argv[1], sys.argv[2]
    interval_us = int(float(sys.argv[3]) * 1000) if len(sys.argv) > 3 else 100_000
    if interval_us <= 0:
        sys.exit("timeline.py: INTERVAL_MS must be above 0")
    who_is = {client: "client", appliance: "appliance", "0": "idle"}
    samples = []
    for line in sys.stdin:
        fields = line.split()
        if len(fields) < 2:
            continue
        pid, when_us = fields[0], round(float(fields[1].rstrip(":")) * 1e6)
        samples.append((when_us, who_is.get(pid, "other")))
    client_times = [t for t, who in samples if who == "client"]
    if not client_times:
        sys.exit("timeline.py: no samples of the client (was perf recording every CPU, and is its pid right?)")
    first, last = min(client_times), max(client_times)
    per = collections.defaultdict(collections.Counter)
    for when_us, who in samples:
        if first <= when_us <= last:
            per[(when_us - first) // interval_us][who] += 1
    print(f"{'from':>7}  " + "  ".join(f"{n:>9}" for n in NAMES))
    total = collections.Counter()
    for i in range(max(per) + 1):
        counts = per[i]
        total.update(counts)
        n = sum(counts.values())
        cells = (f"{counts[x] * 100 / n:8.0f}%" if n else f"{'-':>9}" for x in NAMES)
        print(f"{i * interval_us / 1e6:6.1f}s  " + "  ".join(cells))
    n = sum(total.values())
    print(f"{'all':>7}  " + "  ".join(f"{total[x] * 100 / n:8.0f}%" for x in NAMES))


if __name__ == "__main__":
    main()
