#!/usr/bin/python3
# cache_bench.py: what the persistent cache buys and costs, in one run: the engine benchmark's 60-cell notebook
# run cold (empty cache), cold with the cache off, and again after a kernel restart with the warm cache.
# Knows the kernel protocol (tests/engine/driver.py); prints ratios, asserts nothing about time.
"""Cache benchmark.

    /usr/bin/python3 bench/cache_bench.py [--repeats 3]

Notebook: bench/engine_bench.py's 60 cells (each sleeps 50 ms; cell 10 has 3 dependents).
- cold: a new kernel with an empty cache directory runs every cell top to bottom.
- off: the same with RIPPLE_CACHE=off (the engine without the cache).
- warm: a new kernel (a restart) on the cache the cold run filled runs every cell again.
Times run from the first execute_request to the last reply; kernel start is reported separately. The client is
tests/engine/driver.py's KernelDriver, which waits on iopub and shell at once like nbclient and JupyterLab.
Per cell of the warm run: the round trip and the kernel's own share (`ripple_overhead_ms` in execute_reply).
Ratios: warm / cold (target <= 0.05), cold / off - 1 (hashing and storing overhead, target <= 10%).
Writes bench/results/cache_bench.json.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "kernel"))
sys.path.insert(0, str(HERE.parent / "tests" / "engine"))
sys.path.insert(0, str(HERE))

from driver import KernelDriver  # noqa: E402
from engine_bench import cells  # noqa: E402
from kernel_env import KernelEnv  # noqa: E402


def run_notebook(cache_dir, cache_on=True):
    """Start a kernel, run every cell; return (start seconds, run seconds, cells served from the cache,
    per-cell round trips in seconds, per-cell ripple_overhead_ms)."""
    env = {"RIPPLE_CACHE_DIR": str(cache_dir)}
    if not cache_on:
        env["RIPPLE_CACHE"] = "off"
    t0 = time.perf_counter()
    with KernelEnv(["ripple"]) as kenv, kenv.start("ripple", env=env) as (km, kc):
        started = time.perf_counter() - t0
        nb = KernelDriver(kc, km, timeout=120)
        served = 0
        round_trips, kernel_ms = [], []
        t1 = time.perf_counter()
        for cid, code in cells():
            t = time.perf_counter()
            res = nb.execute_cell(cid, code)
            round_trips.append(time.perf_counter() - t)
            if res.status != "ok":
                raise RuntimeError(f"cell {cid} failed: {res.summary()}")
            served += cid in res.reply["content"].get("ripple_from_cache", [])
            kernel_ms.append(res.reply["content"].get("ripple_overhead_ms", float("nan")))
        ran = time.perf_counter() - t1
    return started, ran, served, round_trips, kernel_ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    samples = {"cold": [], "off": [], "warm": [], "start_cold": [], "start_warm": []}
    served = {"cold": [], "warm": []}
    warm_cells = {"round_trip_ms": [], "kernel_ms": []}  # per warm run: the median over its cells
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="ripple-cache-bench-") as tmp:
            cache = Path(tmp) / "cache"
            start, ran, n, _, _ = run_notebook(cache)
            samples["cold"].append(ran)
            samples["start_cold"].append(start)
            served["cold"].append(n)
            start, ran, n, round_trips, kernel_ms = run_notebook(cache)
            samples["warm"].append(ran)
            samples["start_warm"].append(start)
            served["warm"].append(n)
            warm_cells["round_trip_ms"].append(1000 * statistics.median(round_trips))
            warm_cells["kernel_ms"].append(statistics.median(kernel_ms))
            _, ran, _, _, _ = run_notebook(Path(tmp) / "unused", cache_on=False)
            samples["off"].append(ran)
    med = {k: statistics.median(v) for k, v in samples.items()}
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "cells": len(cells()),
        "cold_s": med["cold"], "off_s": med["off"], "warm_s": med["warm"],
        "kernel_start_s": med["start_cold"],
        "warm_over_cold": med["warm"] / med["cold"],
        "warm_over_cold_with_restart": (med["warm"] + med["start_warm"]) / (med["cold"] + med["start_cold"]),
        "cold_overhead_vs_off": med["cold"] / med["off"] - 1,
        "served_from_cache": served,
        "warm_cell_round_trip_ms_median": statistics.median(warm_cells["round_trip_ms"]),
        "warm_cell_kernel_ms_median": statistics.median(warm_cells["kernel_ms"]),
        "warm_cells": warm_cells,
        "samples": samples,
    }
    print(f"60-cell notebook, median of {args.repeats}: cold {med['cold']:.3f} s, cache off {med['off']:.3f} s, "
          f"warm after restart {med['warm']:.3f} s (cells served from cache: {served['warm']})")
    print(f"warm / cold: {results['warm_over_cold']:.3f} (target <= 0.05); including the kernel start "
          f"({med['start_cold']:.3f} s) on both sides: {results['warm_over_cold_with_restart']:.3f}")
    print(f"a warm cell: round trip {results['warm_cell_round_trip_ms_median']:.2f} ms, of which the kernel's "
          f"engine {results['warm_cell_kernel_ms_median']:.2f} ms (ripple_overhead_ms; medians over cells, median of runs)")
    print(f"cold overhead of hashing and storing vs the cache off: {100 * results['cold_overhead_vs_off']:+.1f}% "
          f"(target <= 10%)")
    out = HERE / "results" / "cache_bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
