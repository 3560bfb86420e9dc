#!/usr/bin/env python3
"""Who used the machine's CPUs, interval by interval: reads `perf script -F pid,time` of a system-wide `perf record -a`
(cpu-clock, so an idle CPU is sampled as pid 0) and prints, per interval, the share of all CPUs the client, the
appliance, anything else and nothing (idle) had, then the whole run's shares. Used by `upload.sh timeline`.

    timeline.py CLIENT_PID APPLIANCE_PID [INTERVAL_MS] < perf-script-output
"""
import collections
import sys


def main():
    client, appliance = sys.argv[1], sys.argv[2]
    interval = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.1
    bins = collections.defaultdict(collections.Counter)
    for line in sys.stdin:
        fields = line.split()
        if len(fields) < 2:
            continue
        pid, when = fields[0], float(fields[1].rstrip(":"))
        who = {client: "client", appliance: "appliance", "0": "idle"}.get(pid, "other")
        bins[when][who] += 1
    if not bins:
        sys.exit("timeline.py: no samples (was perf recording with -a?)")
    start = min(bins)
    per = collections.defaultdict(collections.Counter)
    for when, counts in bins.items():
        per[int((when - start) / interval)].update(counts)
    names = ["client", "appliance", "other", "idle"]
    print(f"{'from':>7}  " + "  ".join(f"{n:>9}" for n in names))
    total = collections.Counter()
    for i in sorted(per):
        counts = per[i]
        total.update(counts)
        n = sum(counts.values())
        print(f"{i * interval:6.1f}s  " + "  ".join(f"{counts[x] * 100 / n:8.0f}%" for x in names))
    n = sum(total.values())
    print("all     " + "  ".join(f"{total[x] * 100 / n:8.0f}%" for x in names))


if __name__ == "__main__":
    main()
