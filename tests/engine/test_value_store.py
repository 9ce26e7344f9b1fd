# test_value_store.py: large values through the real kernel (dag/value_store.hpp): identities derived from the run's
# key, bytes written by a forked child, versions evicted beyond RIPPLE_MEMORY_BUDGET and brought back by loading or by
# rerunning their cell. Every check is the invariant: what each cell shows equals a fresh Rscript run.
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "kernel"))

from driver import KernelDriver  # noqa: E402
from kernel_env import running_kernel  # noqa: E402
from fresh_run import assert_fresh, ripple_notebook, run_cells  # noqa: E402


def chain(k=2):
    """A vector transformed over cells, a data.frame beside it, and summaries that print every version's digest."""
    return [
        ("c1", "set.seed(7); x <- runif(3e5)"),
        ("c2", "x <- x + 1; d <- data.frame(a = x[1:1000], g = rep(letters[1:4], 250))"),
        ("c3", f"x <- x * {k}"),
        ("c4", "d$b <- d$a * 2; x <- sqrt(x)"),
        ("c5", "cat(sprintf('%.8f %.8f\\n', sum(x), sum(d$b)))"),
        ("c6", "aggregate(b ~ g, data = d, FUN = function(v) round(sum(v), 4))"),
    ]


def edit(cells, cell_id, code):
    return [(i, code if i == cell_id else c) for i, c in cells]


# Every value counts as large (1 KB) and nothing but the live state stays in memory: each edit below needs an
# earlier version that left memory, so it is loaded from the cache or rebuilt by rerunning its cell.
TIGHT = {"RIPPLE_LARGE_VALUE": "1K", "RIPPLE_MEMORY_BUDGET": "0"}


@pytest.mark.parametrize("cache", ["off", "on"])
def test_edits_with_every_earlier_version_out_of_memory(tmp_path, monkeypatch, cache):
    for name, value in TIGHT.items():
        monkeypatch.setenv(name, value)
    with ripple_notebook(monkeypatch, tmp_path, cache, timeout=120) as nb:
        cells = chain()
        run_cells(nb, cells)
        assert_fresh(nb, cells)
        # The middle cell edited: its input (c2's x) left memory; the cells below rerun.
        cells = edit(cells, "c3", "x <- x * 3")
        res = nb.execute_cell("c3", "x <- x * 3")
        assert res.status == "ok", res.summary()
        assert_fresh(nb, cells)
        # An edit higher up, then back: early versions come back again.
        cells = edit(cells, "c2", "x <- x + 2; d <- data.frame(a = x[1:1000], g = rep(letters[1:4], 250))")
        assert nb.execute_cell("c2", cells[1][1]).status == "ok"
        assert_fresh(nb, cells)
        cells = edit(cells, "c4", "d$b <- d$a * 5; x <- sqrt(x) + 1")
        assert nb.execute_cell("c4", cells[3][1]).status == "ok"
        assert_fresh(nb, cells)
        # The console reads the live state.
        assert nb.execute("cat(length(x), ncol(d), '\\n')").stream_text().strip() == "300000 3"


def test_a_new_kernel_serves_large_values_written_in_the_background(tmp_path, monkeypatch):
    monkeypatch.setenv("RIPPLE_CACHE_DIR", str(tmp_path / "cache"))
    # 1 KB "large" values; a cell that takes a while, so its value is worth storing (the others are rerun instead).
    monkeypatch.setenv("RIPPLE_LARGE_VALUE", "1K")
    slow = "set.seed(3); Sys.sleep(0.3); y <- cumsum(rnorm(2e5))"
    cells = [("s1", slow), ("s2", "y <- y / 2"), ("s3", "cat(sprintf('%.6f\\n', sum(y)))")]
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=120)
        run_cells(nb, cells)
        assert_fresh(nb, cells)
    values = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and "values" in p.parts]
    assert values, "the slow cell's value was not written to the cache"
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=120)
        first = nb.execute_cell("s1", slow)
        assert first.status == "ok"
        run_cells(nb, cells[1:])
        assert_fresh(nb, cells)
        cells = edit(cells, "s2", "y <- y / 4")
        assert nb.execute_cell("s2", "y <- y / 4").status == "ok"
        assert_fresh(nb, cells)


def test_a_budget_smaller_than_one_value(tmp_path, monkeypatch):
    """The default threshold (32 MB) with a 1 MB budget: a 48 MB vector still works, edits included."""
    monkeypatch.setenv("RIPPLE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RIPPLE_MEMORY_BUDGET", "1M")
    cells = [("b1", "set.seed(11); v <- rnorm(6e6)"), ("b2", "v <- v * 2"), ("b3", "v <- abs(v)"),
             ("b4", "cat(sprintf('%.4f %.4f\\n', mean(v), max(v)))")]
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=300)
        run_cells(nb, cells)
        assert_fresh(nb, cells)
        cells = edit(cells, "b3", "v <- abs(v) + 1")
        assert nb.execute_cell("b3", cells[2][1]).status == "ok"
        assert_fresh(nb, cells)


def test_a_bad_budget_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("RIPPLE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RIPPLE_MEMORY_BUDGET", "lots")
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=120)
        res = nb.execute_cell("a", "z <- 1; z")
        assert res.status == "ok"
        text = res.stream_text("stderr") + res.stream_text("stdout")
        assert "RIPPLE_MEMORY_BUDGET=lots is not a size" in text, text


def resident_bytes(km):
    from kernel_env import kernel_pid
    for line in Path(f"/proc/{kernel_pid(km)}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_warm_restart_binds_large_values_lazily(tmp_path, monkeypatch):
    """A new kernel serves a 320 MB value without loading it, also to a cell below that reads it and is served too;
    it is loaded when a cell that runs reads it. Resident memory is the observable: the value alone is larger than the kernel."""
    monkeypatch.setenv("RIPPLE_CACHE_DIR", str(tmp_path / "cache"))
    cells = [("l1", "set.seed(5); big <- rnorm(4e7); Sys.sleep(1)"),  # slow enough to be worth storing
             ("l2", "small <- 42"),
             ("l2b", "head10 <- round(big[1:10], 6)"),  # reads `big`: served, it must not load it
             ("l3", "cat(small + 1, '\\n')")]
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=300)
        run_cells(nb, cells)
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=300)
        run_cells(nb, cells)
        assert nb.shown["l3"].strip() == "43"
        value_bytes = 8 * 4e7
        assert resident_bytes(km) < value_bytes, "the served value was loaded although no cell read it"
        res = nb.execute_cell("l4", "cat(sprintf('%.6f\\n', mean(big)))")
        assert res.status == "ok", res.summary()
        assert resident_bytes(km) > value_bytes, "reading the value did not load it"
        assert_fresh(nb, cells + [("l4", "cat(sprintf('%.6f\\n', mean(big)))")])
