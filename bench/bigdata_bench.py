#!/usr/bin/python3
# bigdata_bench.py: large values through ripple and IRkernel side by side in one run (issue 15): run all, the kernel's
# peak resident memory, an edit of a middle cell, and the cache's size on disk. Prints ratios; asserts nothing.
"""Large-data benchmark.

    /usr/bin/python3 bench/bigdata_bench.py [--scale 1.0] [--repeats 1]

Notebooks, run the way JupyterLab runs cells (one execute_request per cell, with its cellId):
- A: a 400 MB numeric vector transformed over five cells (`x <- rnorm(5e7)`, `x <- x + 1`, ...) and a summary.
- B: a 5-million-row data.frame through five dplyr steps (filter, mutate, group_by + summarise, a join) and a summary.
ripple runs with its cache on (a fresh cache directory per notebook); IRkernel is the peer. Measured per kernel:
run all (sum of round trips), peak resident memory of the kernel process (VmHWM), the edit of the third cell until
every output is consistent (ripple reruns it and the cells below in the same request; IRkernel is timed running the
same cells again), and for ripple the cache directory's size after the run. `--scale 0.1` runs a tenth of the data.
Writes bench/results/bigdata_bench.json.
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

from driver import KernelDriver  # noqa: E402
from kernel_env import KernelEnv, kernel_pid  # noqa: E402


def notebook_a(scale, edit=2):
    n = int(5e7 * scale)
    return [("a1", f"set.seed(1); x <- rnorm({n})"), ("a2", "x <- x + 1"), ("a3", f"x <- x * {edit}"),
            ("a4", "x <- sqrt(abs(x))"), ("a5", "x <- x - mean(x)"), ("a6", "summary(x)")]


def notebook_b(scale, edit=2):
    n = int(5e6 * scale)
    return [("b0", "suppressPackageStartupMessages(library(dplyr))"),
            ("b1", f"set.seed(2); df <- data.frame(id = seq_len({n}), g = sample(letters, {n}, TRUE), "
                   f"v = runif({n}))"),
            ("b2", "df <- df %>% filter(v > 0.1)"),
            ("b3", f"df <- df %>% mutate(w = v * {edit})"),
            ("b4", "s <- df %>% group_by(g) %>% summarise(m = mean(w), n = n())"),
            ("b5", "j <- df %>% inner_join(s, by = 'g')"),
            ("b6", "summary(j$w - j$m)")]


def peak_rss_bytes(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def directory_bytes(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def measure(kernel, cells, edited_cells, env, tracked, input_name=None):
    """Runs `cells`, then the edited third cell (ripple: one request; the peer: the edited cell and those below).
    With input_name (the peer): also the size of that value before the edit, and how long loading it takes from an
    uncompressed RDS file (readRDS), the "loading one input value" of issue 15's edit target."""
    with KernelEnv([kernel]) as kenv:
        started = time.perf_counter()
        with kenv.start(kernel, env=env, timeout=120) as (km, kc):
            nb = KernelDriver(kc, km, timeout=900)
            nb.execute("invisible(NULL)")  # the kernel answers: started
            start = time.perf_counter() - started
            return run_measured(nb, km, cells, edited_cells, tracked, input_name, start)


def run_measured(nb, km, cells, edited_cells, tracked, input_name, start):
    """The measurements of measure() in a started kernel."""
    per_cell = []
    for cid, code in cells:
        t0 = time.perf_counter()
        res = nb.execute_cell(cid, code) if tracked else nb.execute(code)
        per_cell.append(time.perf_counter() - t0)
        assert res.status == "ok", res.summary()
    run_all = sum(per_cell)
    edit_from = next(i for i, (a, b) in enumerate(zip(cells, edited_cells)) if a != b)
    load = value_bytes = None
    if input_name:
        # The input the edited cell reads, as the cell above left it: recomputed here by the peer (untimed).
        for cid, code in cells[:edit_from]:
            assert nb.execute(code).status == "ok"
        out = nb.execute(f"cat(as.numeric(object.size({input_name})), '\\n'); .rf <- tempfile(); "
                         f"saveRDS({input_name}, .rf, compress = FALSE)")
        value_bytes = float(out.stream_text().split()[0])
        loads = []
        for _ in range(3):
            t = time.perf_counter()
            assert nb.execute("invisible(readRDS(.rf))").status == "ok"
            loads.append(time.perf_counter() - t)
        load = statistics.median(loads)
        assert nb.execute("unlink(.rf)").status == "ok"
        for cid, code in cells[edit_from:]:
            assert nb.execute(code).status == "ok"
    t0 = time.perf_counter()
    if tracked:
        cid, code = edited_cells[edit_from]
        assert nb.execute_cell(cid, code).status == "ok"
    else:
        for cid, code in edited_cells[edit_from:]:
            assert nb.execute(code).status == "ok"
    edit = time.perf_counter() - t0
    result = {"run_all_s": run_all, "edit_s": edit, "peak_rss_bytes": peak_rss_bytes(kernel_pid(km)),
              "cells_s": per_cell,
              # B's first cell loads dplyr: IRkernel's own start-up already loaded rlang and tools (through
              # htmltools), which makes its library(dplyr) about twice as fast; without that cell too:
              "run_all_but_first_s": sum(per_cell[1:]),
              # what a user waits for in a fresh kernel: its start, then run all
              "start_s": start, "start_and_run_all_s": start + run_all}
    if input_name:
        result.update({"load_one_input_s": load, "input_value_bytes": value_bytes})
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", choices=["A", "B"])
    args = ap.parse_args()
    results = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(), "scale": args.scale}
    for name, make in (("A", notebook_a), ("B", notebook_b)):
        if args.only and args.only != name:
            continue
        cells, edited = make(args.scale), make(args.scale, edit=3)
        with tempfile.TemporaryDirectory(prefix="ripple-bigdata-cache-") as cache:
            ripple = measure("ripple", cells, edited, {"RIPPLE_CACHE_DIR": cache}, tracked=True)
            ripple["cache_bytes"] = directory_bytes(cache)
        ir = measure("ir", cells, edited, None, tracked=False, input_name="x" if name == "A" else "df")
        ratios = {key: ripple[key] / ir[key]
                  for key in ("run_all_s", "run_all_but_first_s", "start_and_run_all_s", "edit_s", "peak_rss_bytes")}
        # Issue 15's edit target: the stale cells' own compute (the peer's edit) plus loading one input value.
        ratios["edit_vs_compute_plus_load"] = ripple["edit_s"] / (ir["edit_s"] + ir["load_one_input_s"])
        ratios["cache_vs_input_value"] = ripple["cache_bytes"] / ir["input_value_bytes"]
        results[name] = {"ripple": ripple, "irkernel": ir, "ratios": ratios}
        print(f"{name}: run all ripple {ripple['run_all_s']:.2f} s vs IRkernel {ir['run_all_s']:.2f} s "
              f"({ratios['run_all_s']:.2f}x; without the first cell {ratios['run_all_but_first_s']:.2f}x; kernel start + "
              f"run all {ripple['start_and_run_all_s']:.2f} vs {ir['start_and_run_all_s']:.2f} s, "
              f"{ratios['start_and_run_all_s']:.2f}x); peak RSS {ripple['peak_rss_bytes'] / 2**30:.2f} GB vs "
              f"{ir['peak_rss_bytes'] / 2**30:.2f} GB ({ratios['peak_rss_bytes']:.2f}x); edit of the third cell "
              f"{ripple['edit_s']:.2f} s vs {ir['edit_s']:.2f} s ({ratios['edit_s']:.2f}x; against the peer's compute + "
              f"loading one input ({ir['load_one_input_s']:.2f} s): {ratios['edit_vs_compute_plus_load']:.2f}x); "
              f"cache on disk {ripple['cache_bytes'] / 2**30:.2f} GB ({ratios['cache_vs_input_value']:.2f}x the "
              f"input value)", flush=True)
    out = HERE / "results" / "bigdata_bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
