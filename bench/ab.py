#!/usr/bin/env python3
"""Builds or settings compared on one machine, in one sitting: `encore bench` (or any command
whose last line of output is the bench's JSON) run for each variant in turn, for several rounds,
then a table of every run and of each variant's median against the first variant's.

    python3 bench/ab.py --rounds 2 \\
        --variant main build-gpu/encore \\
        --variant other-build other-build/encore \\
        --variant no-pairs build-gpu/encore ENCORE_CUDA_GEMM_PAIRS=0 \\
        -- bench --device cuda --prefill-tokens 512 2048 --score-items 256

A variant is a name, a binary and settings of the environment (VAR=VALUE) for its runs. Rounds
run the variants forwards, then backwards, and so on, so that a machine that drifts over the
sitting (clocks, other tenants) moves every variant alike; ratios are only meaningful between
runs of one sitting. The figures are the rates the bench reports: prefill, decode and scoring
on a GPU, prompt processing and decode on the CPU (higher is better), with the ceilings each
run measured. A scoring checksum that differs between runs says the bits changed. Each run's
output is kept under --logs when given. Exit status 1 when a run failed (the others still run
and are reported), 2 for bad arguments.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def fail(message):
    print(f"ab: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_variants(specs):
    variants = []
    for spec in specs:
        if len(spec) < 2:
            fail(f"--variant {' '.join(spec)}: expected NAME BINARY [VAR=VALUE ...]")
        name, binary, settings = spec[0], spec[1], spec[2:]
        if any(v["name"] == name for v in variants):
            fail(f"variant name '{name}' is given twice")
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            fail(f"variant {name}: {binary} is not an executable file")
        env = {}
        for setting in settings:
            var, sep, value = setting.partition("=")
            if not sep or not var or not var.replace("_", "a").isalnum():
                fail(f"variant {name}: '{setting}' is not VAR=VALUE")
            env[var] = value
        variants.append({"name": name, "binary": binary, "env": env})
    return variants


def figures(report):
    """The rates of one bench report, by column name (higher is better)."""
    out = {}
    for p in report.get("prefill", []):
        out[f"prefill {p['tokens']}"] = p["tokens_per_s"]
    for d in report.get("decode", []):
        out[f"decode {d['batch']}x{d['context']}"] = d["tokens_per_s"]
    score = report.get("score")
    if isinstance(score, dict) and "items_per_s" in score:
        out["score"] = score["items_per_s"]
    if "pp_tokens_per_s" in report:
        out["prompt"] = report["pp_tokens_per_s"]
    if "tg_tokens_per_s" in report:
        out["decode"] = report["tg_tokens_per_s"]
    return out


def ceilings(report):
    if "gemm_tflops" in report:
        return f"{report['gemm_tflops']:.1f} TFLOP/s, {report.get('copy_gbps', 0):.1f} GB/s"
    if "fma_gflops" in report:
        return f"{report['fma_gflops']:.1f} GFLOP/s, {report.get('read_gbps', 0):.1f} GB/s"
    return ""


def rate(x):
    return f"{x:.0f}" if x >= 1000 else f"{x:.1f}"


def run_once(variant, command, timeout, log_path):
    env = dict(os.environ)
    env.update(variant["env"])
    try:
        done = subprocess.run([variant["binary"]] + command, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"ran past {timeout} s"
    if log_path:
        with open(log_path, "w") as f:
            f.write(done.stdout)
            f.write(done.stderr)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return None, f"exit status {done.returncode}: {last}"
    lines = done.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        report = None
    if not isinstance(report, dict):
        return None, "its last line of output is not the bench's JSON"
    return report, None


def main():
    ap = argparse.ArgumentParser(
        description="Compare builds or settings: encore bench per variant, in rounds (the "
                    "figures of every run, then each variant's medians against the first's).",
        usage="%(prog)s --variant NAME BINARY [VAR=VALUE ...] (twice or more) [--rounds N] "
              "-- BENCH ARGS")
    ap.add_argument("--variant", nargs="+", action="append", default=[], metavar="ARG",
                    help="a variant: NAME BINARY [VAR=VALUE ...], its name, binary and "
                         "environment settings (give two or more)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds (default 2)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run (default 600)")
    ap.add_argument("--logs", help="folder for each run's output")
    argv = sys.argv[1:]
    if "-h" in argv[:argv.index("--") if "--" in argv else len(argv)] or "--help" in argv:
        ap.print_help()
        return 0
    if "--" not in argv:
        fail("the bench's arguments must follow --, e.g. -- bench --device cuda")
    split = argv.index("--")
    args = ap.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        fail("no bench arguments after --")
    if len(args.variant) < 2:
        fail("give at least two --variant NAME BINARY")
    if args.rounds < 1:
        fail("--rounds must be at least 1")
    variants = parse_variants(args.variant)
    if args.logs:
        os.makedirs(args.logs, exist_ok=True)

    runs = []  # (variant name, round, report or None, error)
    for r in range(1, args.rounds + 1):
        order = variants if r % 2 == 1 else list(reversed(variants))
        for v in order:
            log = os.path.join(args.logs, f"{v['name']}_{r}.log") if args.logs else None
            report, error = run_once(v, command, args.timeout, log)
            runs.append((v["name"], r, report, error))
            # Each run's figures as it ends, so that a sitting cut short still says what it had.
            status = ("ok: " + ", ".join(f"{c} {rate(x)}" for c, x in figures(report).items())
                      if report else f"FAILED ({error})")
            print(f"ab: {v['name']} round {r}: {status}", file=sys.stderr)

    columns = []
    for _, _, report, _ in runs:
        for key in figures(report or {}):
            if key not in columns:
                columns.append(key)
    print("| run | " + " | ".join(columns) + " | ceilings |")
    print("| --- |" + " --- |" * (len(columns) + 1))
    for name, r, report, error in runs:
        if report is None:
            print(f"| {name} ({r}) | failed: {error} |" + " |" * len(columns))
            continue
        f = figures(report)
        cells = [rate(f[c]) if c in f else "" for c in columns]
        print(f"| {name} ({r}) | " + " | ".join(cells) + f" | {ceilings(report)} |")

    base = variants[0]["name"]
    print()
    print(f"Median of each variant's runs (ratio to {base}):")
    print()
    print("| variant | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    medians = {}
    for v in variants:
        per = {}
        for c in columns:
            values = [figures(rep)[c] for n, _, rep, _ in runs
                      if n == v["name"] and rep and c in figures(rep)]
            if values:
                per[c] = statistics.median(values)
        medians[v["name"]] = per
    for v in variants:
        cells = []
        for c in columns:
            m = medians[v["name"]].get(c)
            b = medians[base].get(c)
            if m is None:
                cells.append("")
            elif v["name"] == base or not b:
                cells.append(rate(m))
            else:
                cells.append(f"{rate(m)} ({m / b:.3f}x)")
        print(f"| {v['name']} | " + " | ".join(cells) + " |")

    sums = {}
    for name, r, report, _ in runs:
        score = (report or {}).get("score")
        if isinstance(score, dict) and "checksum" in score:
            sums[f"{name} ({r})"] = score["checksum"]
    print()
    if sums:
        if len(set(sums.values())) == 1:
            print(f"Scoring checksum: {next(iter(sums.values()))!r} in every run.")
        else:
            listed = ", ".join(f"{k} {v!r}" for k, v in sums.items())
            print(f"Scoring checksums differ (the bits changed): {listed}.")
    failed = sum(1 for *_, error in runs if error)
    if failed:
        print(f"ab: {failed} of {len(runs)} runs failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
