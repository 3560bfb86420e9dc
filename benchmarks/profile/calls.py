"""What each node was asked over one upload, from its /metrics page before and after (upload.sh calls).

    calls.py BEFORE AFTER

BEFORE and AFTER each hold every node's /metrics page (Prometheus text) one after the other. Printed: per gRPC method and
HTTP route, the calls made between the two and their mean handling time (dropbox_grpc_server_handling_seconds,
dropbox_http_request_duration_seconds), then the collections of each generation (dotnet_collection_count_total) and the
process CPU (process_cpu_seconds_total) the appliance spent between them. The appliance runs both nodes in one process,
so its runtime figures are those of the process (read from its first page).
"""
import re
import sys

# Greedy up to the last brace: a route's label holds braces of its own (route="/chunks/{id}").
SERIES = re.compile(r'^(dropbox_grpc_server_handling_seconds|dropbox_http_request_duration_seconds)_(sum|count)\{(.*)\}\s+(\S+)$')
RUNTIME = re.compile(r'^(dotnet_collection_count_total|process_cpu_seconds_total)(\{[^}]*\})?\s+(\S+)$')
SCRAPE = 'route="/metrics"'  # the pages' own requests: one per node between the two reads, not the upload's


def read(path):
    """The page(s) as {(family, labels): {'sum': s, 'count': n}} and the first page's runtime series."""
    calls, runtime = {}, {}
    for line in open(path, encoding='utf-8', errors='replace'):
        line = line.strip()
        m = SERIES.match(line)
        if m:
            entry = calls.setdefault((m.group(1), m.group(3)), {'sum': 0.0, 'count': 0.0})
            entry[m.group(2)] += float(m.group(4))
            continue
        m = RUNTIME.match(line)
        if m:
            runtime.setdefault(m.group(1) + (m.group(2) or ''), float(m.group(3)))  # the first node's page: the process
    return calls, runtime


def main(before_path, after_path):
    before, runtime_before = read(before_path)
    after, runtime_after = read(after_path)
    for path, calls, runtime in ((before_path, before, runtime_before), (after_path, after, runtime_after)):
        if not calls or 'process_cpu_seconds_total' not in runtime:
            sys.exit(f"calls.py: {path} holds no node's handling times or process CPU: was a /metrics page read?")
    rows = []
    for key, now in after.items():
        if key[1].startswith(SCRAPE):
            continue
        was = before.get(key, {'sum': 0.0, 'count': 0.0})
        count = now['count'] - was['count']
        if count > 0:
            seconds = now['sum'] - was['sum']
            rows.append((seconds, count, key[1]))
    print(f"{'calls':>7} {'total ms':>9} {'mean ms':>8}  method or route")
    for seconds, count, labels in sorted(rows, reverse=True):
        print(f"{count:7.0f} {seconds * 1000:9.1f} {seconds * 1000 / count:8.2f}  {labels}")
    moved = {k: runtime_after[k] - runtime_before.get(k, 0.0) for k in runtime_after}
    gens = []
    for g in range(3):
        key = 'dotnet_collection_count_total{generation="%d"}' % g
        gens.append(f"gen{g} {moved.get(key, 0.0):.0f}")
    print(f"appliance: collections {', '.join(gens)}; CPU {moved.get('process_cpu_seconds_total', 0.0) * 1000:.0f} ms")


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
