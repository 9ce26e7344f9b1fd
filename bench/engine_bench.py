#!/usr/bin/python3
# engine_bench.py: what the no-hidden-state engine buys and costs, side by side in one run: edit one cell of a 60-cell notebook (ripple's reruns vs IRkernel's restart-and-run-all through nbclient), and the engine's per-cell overhead.
# Knows the kernel protocol and nbclient; prints ratios, asserts nothing about time (benchmarks are not tests).
"""Engine benchmark.

    /usr/bin/python3 bench/engine_bench.py [--repeats 3] [--n 300] [--chains 100,400,1000] [--only chains|everyday]

Notebook: 60 cells, each sleeping 50 ms; cell 10 defines `x10`, read by cells 11, 12 and 13 (its 3
dependents); every other cell defines its own variable.
- edit: ripple runs all cells once, then cell 10 is edited and executed; timed from the
  execute_request until its reply and idle (reactive reruns happen inside that request). The
  number of cells run is counted from the displays updated. IRkernel: "restart kernel and run all"
  with nbclient (kernel start + 60 cells). Ratio IRkernel / ripple (higher is better).
- overhead: ripple's own accounting per tracked cell, median over the 60 cells: `ripple_planning_ms`
  in execute_reply (parse, analysis, planning, state restore) and `ripple_overhead_ms` (everything but
  user code: also watching the global state and publishing the cell's display);
  and the round trips of trivial tracked cells (`x <- 1`, which prints nothing, and `x + 1`) with
  the engine vs RIPPLE_ENGINE=off: two kernels side by side, requests alternating between them.
- chains (`--chains 100,400,1000`): long notebooks, each cell reading the one above, run top to bottom beside
  IRkernel: planning per cell by position (issue 15: < 1 ms everywhere), in wall-clock time and in the R thread's
  CPU time (`ripple_planning_cpu_ms`) and that less R's garbage collections that ran inside it
  (`ripple_planning_gc_ms`), and run all against IRkernel.
- everyday: 60 dplyr/tidyr/ggplot2 cells on small data, run the way JupyterLab runs them (execute_request with
  cellId) by ripple with the cache off and on (an empty cache) beside IRkernel, one cell on each in turn, then by a
  fresh ripple on that cache (served) beside a fresh IRkernel: median round trips, their ratios, planning.
ripple runs with RIPPLE_CACHE=off here except in the everyday section: this measures the engine;
bench/cache_bench.py the cache. `--only chains|everyday` runs one section (printed, not written).
Writes bench/results/engine_bench.json.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "kernel"))
sys.path.insert(0, str(HERE.parent / "tests" / "engine"))

from driver import DISPLAY_PREFIX, KernelDriver, display_id_of  # noqa: E402
from kernel_env import KernelEnv, install_irkernel  # noqa: E402

N_CELLS = 60
# The engine without the persistent cache (whose gains and costs bench/cache_bench.py measures).
ENGINE_ALONE = {"RIPPLE_CACHE": "off"}
# A cell that prints nothing (the engine still publishes its updatable display) and one that prints.
TRIVIAL_CELLS = ("x <- 1", "x + 1")
EDITED = 10


def cells(edit_value=None):
    out = []
    for i in range(N_CELLS):
        if i == EDITED:
            code = f"x10 <- {edit_value if edit_value is not None else 10}\nSys.sleep(0.05)"
        elif EDITED < i <= EDITED + 3:
            code = f"d{i} <- x10 + {i}\nSys.sleep(0.05)\nd{i}"
        else:
            code = f"v{i} <- {i}\nSys.sleep(0.05)"
        out.append((f"cell-{i}", code))
    return out


def ripple_edit(repeats):
    with KernelEnv(["ripple"]) as kenv, kenv.start("ripple", env=ENGINE_ALONE) as (km, kc):
        nb = KernelDriver(kc, km, timeout=120)
        overheads, planning = [], []
        for cid, code in cells():
            res = nb.execute_cell(cid, code)
            overheads.append(res.reply["content"].get("ripple_overhead_ms", float("nan")))
            planning.append(res.reply["content"].get("ripple_planning_ms", float("nan")))
        times, ran = [], []
        for r in range(repeats):
            cid, code = cells(edit_value=100 + r)[EDITED]
            t0 = time.perf_counter()
            res = nb.execute_cell(cid, code)
            times.append(time.perf_counter() - t0)
            ran.append(len({display_id_of(m) for m in res.iopub
                            if m["msg_type"] in ("display_data", "update_display_data")
                            and (display_id_of(m) or "").startswith(DISPLAY_PREFIX)}))
            expected = f"[1] {100 + r + EDITED + 3}\n"
            if nb.shown.get(f"cell-{EDITED + 3}") != expected:
                print(f"WARNING: cell {EDITED + 3} shows {nb.shown.get(f'cell-{EDITED + 3}')!r}, "
                      f"expected {expected!r}")
        return times, ran, overheads, planning


def irkernel_restart_run_all(repeats):
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for _, code in cells()]
    times = []
    with tempfile.TemporaryDirectory(prefix="ripple-bench-ir-") as prefix:
        install_irkernel(Path(prefix))
        os.environ["JUPYTER_PATH"] = str(Path(prefix) / "share" / "jupyter")
        for _ in range(repeats):
            copy = nbformat.from_dict(json.loads(json.dumps(nb)))
            t0 = time.perf_counter()
            NotebookClient(copy, kernel_name="ir", timeout=120, startup_timeout=60).execute()
            times.append(time.perf_counter() - t0)
    return times


def trivial_round_trips(n, code):
    """Round trips of one trivial tracked cell on two kernels started side by side, the engine on and
    RIPPLE_ENGINE=off, requests alternating between them so that load on the machine hits both alike."""
    with KernelEnv(["ripple"]) as kenv, kenv.start("ripple", env=ENGINE_ALONE) as (km_on, kc_on), \
            kenv.start("ripple", env={"RIPPLE_ENGINE": "off"}) as (km_off, kc_off):
        kernels = {"on": KernelDriver(kc_on, km_on, timeout=60), "off": KernelDriver(kc_off, km_off, timeout=60)}
        samples = {"on": [], "off": []}
        for i in range(n + 10):
            for name in (("on", "off") if i % 2 else ("off", "on")):
                t0 = time.perf_counter()
                kernels[name].execute_cell("trivial", code)
                if i >= 10:  # warm-up
                    samples[name].append(time.perf_counter() - t0)
        return samples["on"], samples["off"]


def chain_cells(n):
    """A long notebook in R's `df <- f(df)` shape: each cell reads the one above (v1 <- v0 + 1, ...)."""
    return [("chain-0", "v0 <- 0")] + [(f"chain-{i}", f"v{i} <- v{i - 1} + 1") for i in range(1, n)]


def chain_run(n):
    """Runs the chain top to bottom on ripple (tracked cells, cache off) and on IRkernel side by side, one cell on each
    in turn. Returns ripple's planning ms by position and both kernels' round trips in seconds."""
    with KernelEnv(["ripple", "ir"]) as kenv, kenv.start("ripple", env=ENGINE_ALONE) as (km, kc):
        with kenv.start("ir") as (km_ir, kc_ir):
            ripple, ir = KernelDriver(kc, km, timeout=120), KernelDriver(kc_ir, km_ir, timeout=120)
            planning, planning_cpu, planning_gc, rt_ripple, rt_ir = [], [], [], [], []
            for cid, code in chain_cells(n):
                t0 = time.perf_counter()
                res = ripple.execute_cell(cid, code)
                rt_ripple.append(time.perf_counter() - t0)
                planning.append(res.reply["content"].get("ripple_planning_ms", float("nan")))
                planning_cpu.append(res.reply["content"].get("ripple_planning_cpu_ms", float("nan")))
                planning_gc.append(res.reply["content"].get("ripple_planning_gc_ms", float("nan")))
                t0 = time.perf_counter()
                ir.execute(code)
                rt_ir.append(time.perf_counter() - t0)
            return planning, planning_cpu, planning_gc, rt_ripple, rt_ir


def chains_section(sizes):
    """Planning per cell at every position and run-all time per cell against IRkernel, for each chain length."""
    out = {}
    for n in sizes:
        planning, planning_cpu, planning_gc, rt_ripple, rt_ir = chain_run(n)
        # Planning's own work: CPU time less R's garbage collections that happened to run inside it (gc.time(), whole
        # milliseconds; a collection is paid by whichever step allocates when R decides to collect).
        own = [max(0.0, c - g) for c, g in zip(planning_cpu, planning_gc)]
        tail = planning[-max(1, n // 10):]
        tenths = [planning[k * n // 10:(k + 1) * n // 10] for k in range(10)]
        out[str(n)] = {
            "planning_ms_median": statistics.median(planning), "planning_ms_max": max(planning),
            "planning_ms_last_tenth_median": statistics.median(tail),
            # by position: the median and the largest of each tenth of the chain (first to last)
            "planning_ms_by_tenth_median": [round(statistics.median(t), 3) for t in tenths if t],
            "planning_ms_by_tenth_max": [round(max(t), 3) for t in tenths if t],
            "planning_ms_over_1": sum(1 for p in planning if p >= 1.0),
            # The same planning counted in the R thread's CPU time: a wall-clock spike with little CPU is time the
            # thread waited for a core (2 cores: the driver, IRkernel and the kernel's other threads), not work.
            "planning_cpu_ms_median": statistics.median(planning_cpu), "planning_cpu_ms_max": max(planning_cpu),
            "planning_cpu_ms_by_tenth_median": [round(statistics.median(planning_cpu[k * n // 10:(k + 1) * n // 10]), 3)
                                                for k in range(10) if planning_cpu[k * n // 10:(k + 1) * n // 10]],
            "planning_cpu_ms_over_1": sum(1 for p in planning_cpu if p >= 1.0),
            "planning_gc_ms_total": sum(planning_gc), "planning_with_gc": sum(1 for g in planning_gc if g > 0),
            "planning_own_ms_max": max(own), "planning_own_ms_over_1": sum(1 for p in own if p >= 1.0),
            "planning_over_1_at": [{"cell": i, "wall_ms": round(p, 3), "cpu_ms": round(planning_cpu[i], 3),
                                    "gc_ms": round(planning_gc[i], 3)}
                                   for i, p in enumerate(planning) if p >= 1.0 or planning_cpu[i] >= 1.0],
            "round_trip_ms_median_ripple": 1000 * statistics.median(rt_ripple),
            "round_trip_ms_median_irkernel": 1000 * statistics.median(rt_ir),
            "run_all_s_ripple": sum(rt_ripple), "run_all_s_irkernel": sum(rt_ir),
            "run_all_ratio": sum(rt_ripple) / sum(rt_ir),
        }
        r = out[str(n)]
        print(f"chain of {n} cells (v_i <- v_(i-1) + 1), cache off: planning per cell median "
              f"{r['planning_ms_median']:.3f} ms, max {r['planning_ms_max']:.3f} ms, last tenth "
              f"{r['planning_ms_last_tenth_median']:.3f} ms (by tenth: {r['planning_ms_by_tenth_median']}; "
              f"{r['planning_ms_over_1']} of {n} cells at 1 ms or more); in CPU time: median "
              f"{r['planning_cpu_ms_median']:.3f} ms, max {r['planning_cpu_ms_max']:.3f} ms, "
              f"{r['planning_cpu_ms_over_1']} cells at 1 ms or more; less R's garbage collections (in "
              f"{r['planning_with_gc']} cells): max {r['planning_own_ms_max']:.3f} ms, {r['planning_own_ms_over_1']} cells at "
              f"1 ms or more; run all {r['run_all_s_ripple']:.2f} s vs IRkernel "
              f"{r['run_all_s_irkernel']:.2f} s ({r['run_all_ratio']:.2f}x)", flush=True)
        print(f"  cells at 1 ms or more (wall or CPU): {r['planning_over_1_at']}", flush=True)
    return out


# A notebook of everyday cells (issue 15 item 7): dplyr, tidyr and ggplot2 on small data, as a user writes them.
EVERYDAY_CELLS = [
    "library(dplyr)",
    "library(tidyr)",
    "library(ggplot2)",
    'cars <- as_tibble(mtcars, rownames = "model")',
    "cars",
    "cars %>% filter(cyl == 4) %>% arrange(desc(mpg))",
    "by_cyl <- cars %>% group_by(cyl) %>% summarise(n = n(), mpg = mean(mpg), hp = mean(hp))",
    "by_cyl",
    "cars %>% mutate(kpl = mpg * 0.425) %>% select(model, mpg, kpl) %>% head(5)",
    "ggplot(cars, aes(wt, mpg)) + geom_point()",
    "heavy <- cars %>% filter(wt > 3.5)",
    "nrow(heavy)",
    "cars %>% group_by(gear, am) %>% summarise(n = n(), .groups = \"drop\")",
    "flowers <- as_tibble(iris)",
    "flowers %>% group_by(Species) %>% summarise(across(where(is.numeric), mean))",
    "long <- flowers %>% mutate(id = row_number()) %>%\n  pivot_longer(-c(id, Species), names_to = \"measure\", values_to = \"value\")",
    "long",
    "long %>% group_by(Species, measure) %>% summarise(mean = mean(value), .groups = \"drop\")",
    "wide <- long %>% pivot_wider(names_from = measure, values_from = value)",
    "dim(wide)",
    "ggplot(long, aes(measure, value, fill = Species)) + geom_boxplot()",
    "sepal <- flowers %>% select(Species, starts_with(\"Sepal\")) %>% distinct()",
    "petals <- flowers %>% select(Species, starts_with(\"Petal\")) %>% mutate(ratio = Petal.Length / Petal.Width)",
    "petals %>% arrange(desc(ratio)) %>% slice_head(n = 5)",
    "summary(petals$ratio)",
    "cars_ <- mpg",
    "cars_ %>% count(class, sort = TRUE)",
    "makers <- tibble(manufacturer = c(\"audi\", \"ford\", \"toyota\", \"honda\", \"volkswagen\"),\n"
    "                 country = c(\"DE\", \"US\", \"JP\", \"JP\", \"DE\"))",
    "joined <- cars_ %>% left_join(makers, by = \"manufacturer\")",
    "joined %>% count(country)",
    "cars_ %>% inner_join(makers, by = \"manufacturer\") %>% group_by(country) %>% summarise(hwy = mean(hwy))",
    "cars_ %>% anti_join(makers, by = \"manufacturer\") %>% distinct(manufacturer)",
    "ggplot(cars_, aes(displ, hwy, colour = class)) + geom_point()",
    "by_year <- cars_ %>% group_by(year, drv) %>% summarise(cty = mean(cty), hwy = mean(hwy), .groups = \"drop\")",
    "by_year",
    "by_year %>% pivot_longer(c(cty, hwy), names_to = \"where\", values_to = \"mpg\")",
    "cars_ %>% mutate(efficient = hwy > 30) %>% count(efficient)",
    "top <- cars_ %>% group_by(manufacturer) %>% slice_max(hwy, n = 1, with_ties = FALSE) %>% ungroup()",
    "top %>% select(manufacturer, model, hwy)",
    "ggplot(top, aes(reorder(manufacturer, hwy), hwy)) + geom_col() + coord_flip()",
    "table1 <- tibble(id = 1:6, x = c(3, 1, 4, 1, 5, 9))",
    "table2 <- tibble(id = c(2, 4, 6, 8), y = c(\"b\", \"d\", \"f\", \"h\"))",
    "full_join(table1, table2, by = \"id\")",
    "table1 %>% semi_join(table2, by = \"id\")",
    "table1 %>% mutate(z = cumsum(x), lagged = lag(x))",
    "stocks <- tibble(year = c(2015, 2015, 2016, 2016), qtr = c(1, 2, 1, 2), ret = c(1.1, 0.5, 0.2, 0.9))",
    "stocks %>% complete(year, qtr = 1:4)",
    "stocks %>% pivot_wider(names_from = qtr, values_from = ret)",
    "nested <- cars %>% group_by(cyl) %>% nest()",
    "nested %>% mutate(rows = purrr::map_int(data, nrow))",
    "cars %>% summarise(across(c(mpg, hp, wt), list(mean = mean, sd = sd)))",
    "cars %>% rowwise() %>% mutate(m = max(c(mpg, hp))) %>% ungroup() %>% select(model, m) %>% head(3)",
    "ggplot(by_cyl, aes(factor(cyl), mpg)) + geom_col()",
    "quantiles <- cars %>% pull(mpg) %>% quantile()",
    "quantiles",
    "cars %>% filter(between(hp, 100, 150)) %>% nrow()",
    "cars %>% mutate(size = case_when(wt < 2.5 ~ \"light\", wt < 3.5 ~ \"mid\", TRUE ~ \"heavy\")) %>% count(size)",
    "glimpse(cars)",
    "unite(stocks, \"when\", year, qtr, sep = \"-\")",
    "flowers %>% filter(Sepal.Length > 7) %>% arrange(Sepal.Length)",
]


def everyday_cells():
    return [(f"everyday-{i}", code) for i, code in enumerate(EVERYDAY_CELLS)]


def everyday_pass(kernels, cells):
    """Runs `cells` top to bottom on each of `kernels` (name -> (driver, tracked)), one cell on each in turn (rotating
    who goes first, so that load hits all alike). Returns name -> round trips (s), planning ms, cells served."""
    out = {name: {"rt": [], "planning": [], "served": 0} for name in kernels}
    names = list(kernels)
    for i, (cid, code) in enumerate(cells):
        for name in names[i % len(names):] + names[:i % len(names)]:
            driver, tracked = kernels[name]
            t0 = time.perf_counter()
            res = driver.execute_cell(cid, code) if tracked else driver.execute(code)
            out[name]["rt"].append(time.perf_counter() - t0)
            if tracked:
                out[name]["planning"].append(res.reply["content"].get("ripple_planning_ms", float("nan")))
                out[name]["served"] += len(res.reply["content"].get("ripple_from_cache", []))
    return out


def everyday_section():
    """The everyday notebook the way JupyterLab runs it (execute_request with cellId), ripple with the cache off and
    on (an empty cache) beside IRkernel, one cell on each in turn; then a fresh ripple kernel on that cache (a restart:
    the cells are served) beside a fresh IRkernel."""
    cells = everyday_cells()
    missing = subprocess.run(["Rscript", "-e", "quit(status = !requireNamespace('ggplot2', quietly = TRUE))"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0
    if missing:
        print("everyday notebook: skipped, ggplot2 is not installed "
              "(apt-get install --no-install-recommends r-cran-ggplot2)", flush=True)
        return {"skipped": "ggplot2 is not installed"}
    with tempfile.TemporaryDirectory(prefix="ripple-bench-everyday-") as cache, KernelEnv(["ripple", "ir"]) as kenv:
        cache_on = {"RIPPLE_CACHE_DIR": cache}
        with kenv.start("ripple", env=ENGINE_ALONE) as (km_off, kc_off), \
                kenv.start("ripple", env=cache_on) as (km_on, kc_on), kenv.start("ir") as (km_ir, kc_ir):
            first = everyday_pass({"cache_off": (KernelDriver(kc_off, km_off, timeout=120), True),
                                   "cache_on": (KernelDriver(kc_on, km_on, timeout=120), True),
                                   "irkernel": (KernelDriver(kc_ir, km_ir, timeout=120), False)}, cells)
        with kenv.start("ripple", env=cache_on) as (km_on, kc_on), kenv.start("ir") as (km_ir, kc_ir):
            second = everyday_pass({"cache_warm": (KernelDriver(kc_on, km_on, timeout=120), True),
                                    "irkernel": (KernelDriver(kc_ir, km_ir, timeout=120), False)}, cells)
    out = {"cells": len(cells)}
    for label, runs, peer in (("cache_off", first, first), ("cache_on_cold", first, first),
                              ("cache_on_warm", second, second)):
        mine = runs["cache_off" if label == "cache_off" else "cache_on" if label == "cache_on_cold" else "cache_warm"]
        ir_median = statistics.median(peer["irkernel"]["rt"])
        out[label] = {
            "round_trip_ms_median": 1000 * statistics.median(mine["rt"]),
            "round_trip_ms_median_irkernel": 1000 * ir_median,
            "ratio": statistics.median(mine["rt"]) / ir_median,
            "run_all_s": sum(mine["rt"]), "run_all_s_irkernel": sum(peer["irkernel"]["rt"]),
            "planning_ms_median": statistics.median(mine["planning"]), "planning_ms_max": max(mine["planning"]),
            "served": mine["served"],
            "samples_ms": [round(1000 * t, 3) for t in mine["rt"]],
            "planning_samples_ms": [round(p, 3) for p in mine["planning"]],
        }
        r = out[label]
        print(f"everyday notebook ({len(cells)} dplyr/tidyr/ggplot2 cells), ripple {label.replace('_', ' ')}: "
              f"median round trip {r['round_trip_ms_median']:.2f} ms vs IRkernel {r['round_trip_ms_median_irkernel']:.2f} "
              f"ms ({r['ratio']:.2f}x); planning median {r['planning_ms_median']:.2f} ms, max "
              f"{r['planning_ms_max']:.2f} ms; {r['served']} served", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--chains", default="100,400,1000", help="chain lengths for the long-notebook section")
    ap.add_argument("--only", choices=["chains", "everyday"], help="run one section alone (not written to results)")
    args = ap.parse_args()
    chain_sizes = [int(s) for s in args.chains.split(",") if s]
    if args.only == "chains":
        chains_section(chain_sizes)
        return
    if args.only == "everyday":
        everyday_section()
        return

    r_times, r_ran, overheads, planning = ripple_edit(args.repeats)
    ir_times = irkernel_restart_run_all(args.repeats)
    trivial = {code: trivial_round_trips(args.n, code) for code in TRIVIAL_CELLS}
    chains = chains_section(chain_sizes)
    everyday = everyday_section()

    edit_ripple = statistics.median(r_times)
    edit_ir = statistics.median(ir_times)
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "edit_one_cell_ripple_s": edit_ripple,
        "edit_one_cell_cells_run": r_ran,
        "restart_run_all_irkernel_s": edit_ir,
        "speedup_irkernel_over_ripple": edit_ir / edit_ripple,
        "overhead_per_cell_ms_median": statistics.median(overheads),
        "overhead_per_cell_ms_max": max(overheads),
        "planning_per_cell_ms_median": statistics.median(planning),
        "planning_per_cell_ms_max": max(planning),
        "trivial_round_trips": {
            code: {"engine_ms": 1000 * statistics.median(on), "no_engine_ms": 1000 * statistics.median(off),
                   "overhead_ratio": statistics.median(on) / statistics.median(off) - 1}
            for code, (on, off) in trivial.items()},
        "chains": chains,
        "everyday": everyday,
        "samples": {"ripple_edit_s": r_times, "irkernel_restart_run_all_s": ir_times},
    }
    print(f"edit one cell (60 cells x 50 ms, 3 dependents): ripple {edit_ripple:.3f} s "
          f"(cells run per edit: {r_ran}), IRkernel restart+run all {edit_ir:.3f} s, "
          f"ratio {edit_ir / edit_ripple:.1f}x")
    print(f"parse + analysis + planning (incl. state restore) per cell: median "
          f"{results['planning_per_cell_ms_median']:.3f} ms, max {results['planning_per_cell_ms_max']:.3f} ms")
    print(f"all engine overhead per cell (the above + watching the global state + publishing the cell's display): "
          f"median {results['overhead_per_cell_ms_median']:.3f} ms, max {results['overhead_per_cell_ms_max']:.3f} ms")
    for code, rt in results["trivial_round_trips"].items():
        print(f"trivial tracked cell `{code}` round trip (median of {args.n}, kernels interleaved): "
              f"engine {rt['engine_ms']:.2f} ms, engine off {rt['no_engine_ms']:.2f} ms, "
              f"overhead {100 * rt['overhead_ratio']:.0f}%")
    out = HERE / "results" / "engine_bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
