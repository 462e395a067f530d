#!/usr/bin/env python3
"""Summarizes an Nsight Compute trace of `encore bench --device cuda` (tests/gpu/profile.sh): the
kernels are cut into forward passes (each begins with the embedding kernel), and the passes named
on the command line are listed kernel by kernel, summed by name, with their share of the pass.

  profile_summary.py TRACE.csv LABEL=FIRST[:LAST] ...

FIRST and LAST count forward passes from 0 (negative: from the end); each LABEL's table sums the
passes FIRST..LAST and divides by their number (per pass). Durations are ncu's
gpu__time_duration.sum, each kernel alone on the GPU (no launch gaps)."""
import collections
import csv
import re
import sys


def short_name(name):
    name = re.sub(r"^void ", "", name)
    name = re.sub(r"\(.*$", "", name)
    depth, out = 0, []
    for ch in name:  # drop template arguments
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    base = "".join(out).split("::")[-1]
    return base[:60]


def load(path):
    kernels = []  # (name, ns)
    with open(path, newline="") as f:
        lines = [l for l in f if l.startswith('"')]
    rows = csv.reader(lines)
    header = next(rows)
    col = {h: i for i, h in enumerate(header)}
    for r in rows:
        if r[col["Metric Name"]] != "gpu__time_duration.sum":
            continue
        value = float(r[col["Metric Value"]].replace(",", ""))
        unit = r[col["Metric Unit"]]
        scale = {"ns": 1, "nsecond": 1, "usecond": 1e3, "us": 1e3, "msecond": 1e6, "ms": 1e6}
        kernels.append((short_name(r[col["Kernel Name"]]), value * scale.get(unit, 1)))
    return kernels


def main():
    kernels = load(sys.argv[1])
    passes, current = [], None
    for name, ns in kernels:
        if "embed" in name:
            current = []
            passes.append(current)
        if current is not None:
            current.append((name, ns))
    print(f"{len(kernels)} kernels, {len(passes)} forward passes")
    for spec in sys.argv[2:]:
        label, rng = spec.split("=")
        first, _, last = rng.partition(":")
        first = int(first)
        last = int(last) if last else first
        chosen = passes[first:last + 1 if last != -1 else None]
        if not chosen:
            print(f"{label}: no such passes")
            continue
        total = collections.Counter()
        count = collections.Counter()
        for p in chosen:
            for name, ns in p:
                total[name] += ns
                count[name] += 1
        n = len(chosen)
        all_ns = sum(total.values()) / n
        print(f"\n{label}: {n} pass(es), {all_ns / 1e3:.1f} us of kernels per pass")
        print(f"{'kernel':<62} {'calls':>6} {'us/pass':>10} {'share':>7}")
        for name, ns in total.most_common():
            print(f"{name:<62} {count[name] / n:>6.0f} {ns / n / 1e3:>10.1f} "
                  f"{100 * ns / n / all_ns:>6.1f}%")


if __name__ == "__main__":
    main()
