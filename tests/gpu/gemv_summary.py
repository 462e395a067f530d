#!/usr/bin/env python3
"""Summarizes Nsight Compute's trace of the GEMV launches of one decode step (tests/gpu/profile.sh
gemv): launches grouped by grid size (one group per weight shape of a Llama layer, and the output
head), with the time of each, the DRAM bytes each read and the bandwidth that gives.

  gemv_summary.py TRACE.csv

The trace holds gpu__time_duration.sum, dram__bytes_read.sum and launch__grid_size per launch."""
import collections
import csv
import sys


def main(path):
    lines = open(path).read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('"ID"'))
    rows = list(csv.reader(lines[start:]))
    head = rows[0]
    col_id, col_name = head.index("ID"), head.index("Metric Name")
    col_value = head.index("Metric Value")
    launches = collections.defaultdict(dict)
    for r in rows[1:]:
        if len(r) == len(head):
            launches[r[col_id]][r[col_name]] = float(r[col_value].replace(",", ""))
    groups = collections.defaultdict(lambda: [0, 0.0, 0.0])  # grid: launches, ns, bytes
    for m in launches.values():
        g = groups[int(m["launch__grid_size"])]
        g[0] += 1
        g[1] += m["gpu__time_duration.sum"]
        g[2] += m["dram__bytes_read.sum"]
    print(f"{'grid':>8} {'launches':>9} {'us each':>9} {'MB each':>9} {'GB/s':>7}")
    for grid, (n, ns, b) in sorted(groups.items()):
        print(f"{grid:8d} {n:9d} {ns / n / 1e3:9.1f} {b / n / 1e6:9.1f} {b / ns:7.0f}")
    ns = sum(g[1] for g in groups.values())
    b = sum(g[2] for g in groups.values())
    print(f"all {len(launches)} launches: {ns / 1e3:.0f} us, {b / 1e9:.2f} GB, {b / ns:.0f} GB/s")


if __name__ == "__main__":
    main(sys.argv[1])
