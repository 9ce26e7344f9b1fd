# test_cache_kernel.py: the persistent cache as a notebook user meets it, through the real kernel: restarts
# that restore without recomputing, the classic false hits (each must miss), false misses (each must hit), damage.
# Knows the kernel protocol (driver.py), R and the cache directory's layout; not how keys are composed.
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "kernel"))

from driver import KernelDriver  # noqa: E402
from kernel_env import KernelEnv  # noqa: E402



@pytest.fixture()
def cache_dir(tmp_path):
    return tmp_path / "cache"


@contextlib.contextmanager
def kernel(cache_dir, **env):
    """A ripple kernel using `cache_dir`; a second one with the same directory is a restart."""
    with KernelEnv(["ripple"]) as kenv, kenv.start("ripple", env={"RIPPLE_CACHE_DIR": str(cache_dir), **env}) as (km, kc):
        yield KernelDriver(kc, km, timeout=60)


def served(res):
    """Ids of the cells this request served from the cache (execute_reply's ripple_from_cache)."""
    return res.reply["content"].get("ripple_from_cache", [])


def value(nb, expression):
    res = nb.probe(f"cat(format({expression}))")
    return res.stream_text()


def run_all(nb, cells):
    return [nb.execute_cell(cid, code) for cid, code in cells]


def test_a_restarted_kernel_restores_outputs_and_values_without_recomputing(cache_dir, tmp_path):
    marker = tmp_path / "runs.txt"
    cells = [("a", f"x <- 1:5\ncat('computed\\n', file = '{marker}', append = TRUE)\ncat('hello\\n')"),
             ("b", "y <- sum(x)\ny"),
             ("c", "plot(x)")]
    with kernel(cache_dir) as nb:
        run_all(nb, cells)
        first = dict(nb.shown)
        first_plot = [m for m in nb.execute_cell("c", "plot(x)").iopub if m["msg_type"] == "display_data"]
    assert marker.read_text() == "computed\n"
    with kernel(cache_dir) as nb:
        results = run_all(nb, cells)
        assert all(served(r) for r in results), [r.stream_text() for r in results]
        assert nb.shown["a"] == first["a"] == "hello\n" and nb.shown["b"] == first["b"] == "[1] 15\n"
        plot = [m for m in nb.execute_cell("c", "plot(x)").iopub if m["msg_type"] == "display_data"]
        assert plot and "image/png" in plot[0]["content"]["data"]
        assert plot[0]["content"]["data"]["image/png"] == first_plot[0]["content"]["data"]["image/png"]
        assert value(nb, "y") == "15" and value(nb, "paste(x, collapse = ',')") == "1,2,3,4,5"
    assert marker.read_text() == "computed\n", "a cell ran again although its result was cached"


def test_a_restarted_kernel_replays_a_widget_from_the_cache(cache_dir, tmp_path):
    marker = tmp_path / "runs.txt"
    # DT loads cli, whose options() the cell that loads it then defines: such a cell is not served after a restart
    # (an engine limitation shared by every package that sets options when it loads), so DT loads in a setup cell,
    # which is served with the search path it leaves (library() of a named package is cacheable).
    cells = [("a", "library(DT)\nn <- 4"),
             ("b", f"cat('computed\\n', file = '{marker}', append = TRUE)\ndatatable(head(iris, n))"),
             ("c", 'htmltools::tags$b(paste(n, "rows"))')]
    with kernel(cache_dir) as nb:
        run_all(nb, cells)
        first = {cid: dict(nb.bundles[cid]) for cid in ("b", "c")}
    assert 'class="datatables html-widget' in first["b"]["text/html"] and "<b>4 rows</b>" in first["c"]["text/html"]
    with kernel(cache_dir) as nb:
        results = run_all(nb, cells)
        assert [served(r) for r in results] == [["a"], ["b"], ["c"]], [r.stream_text() for r in results]
        assert {cid: nb.bundles[cid] for cid in ("b", "c")} == first
    assert marker.read_text() == "computed\n", "the widget cell ran again although its result was cached"


def test_false_misses_layout_and_comment_edits_and_a_neutral_reorder_hit(cache_dir):
    with kernel(cache_dir) as nb:
        run_all(nb, [("a", "x <- 2"), ("b", "k <- 3"), ("c", "y <- x * 10\ny")])
        res = nb.execute_cell("c", "y <-   x*10   # times ten\n\ny")
        assert served(res) and nb.shown["c"] == "[1] 20\n"
        # Swapping two independent cells changes no reaching definition: nothing recomputes.
        res = nb.send_notebook([("b", "k <- 3"), ("a", "x <- 2"), ("c", "y <-   x*10   # times ten\n\ny")])
        res = nb.execute_cell("c", "y <-   x*10   # times ten\n\ny")
        assert served(res)


@pytest.mark.parametrize("name, before, after, reader, shows_before, shows_after", [
    ("changed upstream value", "n <- 2", "n <- 3", "n * 100", "[1] 200\n", "[1] 300\n"),
    ("function redefined upstream", "f <- function(v) v + 1", "f <- function(v) v + 2", "f(10)",
     "[1] 11\n", "[1] 12\n"),
    ("options(digits=) upstream", "options(digits = 3)", "options(digits = 5)", "print(pi)",
     "[1] 3.14\n", "[1] 3.1416\n"),
    ("RNG seed upstream", "set.seed(1)", "set.seed(2)", "round(runif(1), 4)", "[1] 0.2655\n", "[1] 0.1849\n"),
])
def test_false_hits_each_classic_pitfall_misses(cache_dir, name, before, after, reader, shows_before, shows_after):
    with kernel(cache_dir) as nb:
        run_all(nb, [("up", before), ("reader", reader)])
        assert nb.shown["reader"] == shows_before, name
    with kernel(cache_dir) as nb:  # a fresh kernel: only the persistent cache could give the old answer
        results = run_all(nb, [("up", after), ("reader", reader)])
        assert nb.shown["reader"] == shows_after, (name, results[-1].stream_text())
        assert not any("reader" in served(r) for r in results), name


def test_false_hit_a_changed_data_file_misses_and_makes_its_reader_stale(cache_dir, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("v\n1\n2\n")
    reader = f"d <- read.csv('{data}')\nsum(d$v)"
    with kernel(cache_dir) as nb:
        run_all(nb, [("read", reader), ("use", "nrow(d)")])
        assert nb.shown["read"] == "[1] 3\n"
        data.write_text("v\n1\n2\n40\n")
        # In the same session: running the cell below reruns the reader first (its file changed).
        res = nb.execute_cell("use", "nrow(d)")
        assert nb.shown["use"] == "[1] 3\n" and nb.shown["read"] == "[1] 43\n", res.stream_text()
    with kernel(cache_dir) as nb:
        data.write_text("v\n5\n")
        res = nb.execute_cell("read", reader)
        assert nb.shown["read"] == "[1] 5\n" and not served(res)


def test_a_cell_reading_the_working_directory_is_never_served_from_another_directory(cache_dir, tmp_path):
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        with kernel(cache_dir) as nb:
            nb.probe(f"setwd('{tmp_path / name}')")
            res = nb.execute_cell("wd", "cat(basename(getwd()))")
            assert nb.shown["wd"] == name and not served(res)


def test_unseeded_random_numbers_and_volatile_cells_are_never_served(cache_dir):
    with kernel(cache_dir) as nb:
        run_all(nb, [("r", "u <- runif(3)"), ("t", "t0 <- Sys.time()"), ("o", "#| cache: false\nz <- 1")])
    with kernel(cache_dir) as nb:
        results = run_all(nb, [("r", "u <- runif(3)"), ("t", "t0 <- Sys.time()"), ("o", "#| cache: false\nz <- 1")])
        assert not any(served(r) for r in results)
        # Opting in serves a volatile cell.
        nb.execute_cell("t2", "#| cache: true\nstamp <- format(Sys.time(), '%H:%M:%OS6')")
        first = value(nb, "stamp")
    with kernel(cache_dir) as nb:
        res = nb.execute_cell("t2", "#| cache: true\nstamp <- format(Sys.time(), '%H:%M:%OS6')")
        assert served(res) and value(nb, "stamp") == first


def _value_files(cache_dir):
    return [p for p in Path(cache_dir).rglob("*") if p.is_file() and p.stat().st_size > 100_000
            and "sqlite" not in p.name]


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_value_is_a_miss_with_one_warning_never_a_wrong_value(cache_dir, damage):
    cell = "set.seed(7); big <- rnorm(50000); round(sum(big), 6)"
    with kernel(cache_dir) as nb:
        nb.execute_cell("big", cell)
        expected = nb.shown["big"]
    files = _value_files(cache_dir)
    assert len(files) == 1, files
    blob = files[0]
    data = bytearray(blob.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with kernel(cache_dir) as nb:
        res = nb.execute_cell("big", cell)
        assert nb.shown["big"] == expected and res.status == "ok"
        assert not served(res)
        warnings = [line for line in res.stream_text().splitlines() if line.startswith("ripple cache")]
        assert len(warnings) == 1, res.stream_text()
        assert value(nb, "length(big)") == "50000"


@contextlib.contextmanager
def read_only(directory):
    """Makes `directory` unwritable for the kernel: mode 0500, or for root (whom modes do not stop) a
    read-only bind mount of it over itself."""
    if os.geteuid() != 0:
        os.chmod(directory, 0o500)
        try:
            yield
        finally:
            os.chmod(directory, 0o700)
        return
    subprocess.run(["mount", "--bind", str(directory), str(directory)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(directory)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def test_a_read_only_cache_directory_still_runs_every_cell_and_serves_what_it_holds(cache_dir):
    with kernel(cache_dir) as nb:
        nb.execute_cell("a", "x <- 41")
    with read_only(cache_dir):
        assert not os.access(cache_dir / "probe", os.F_OK)
        with pytest.raises(OSError):
            (cache_dir / "probe").write_text("x")
        with kernel(cache_dir) as nb:
            res = nb.execute_cell("b", "y <- 1 + 1\ny")
            assert res.status == "ok" and nb.shown["b"] == "[1] 2\n"
            res = nb.execute_cell("a", "x <- 41")
            assert res.status == "ok" and value(nb, "x") == "41"
            warnings = [line for line in res.stream_text().splitlines() if line.startswith("ripple cache")]
            assert len(warnings) <= 1, res.stream_text()


def test_why_says_which_part_of_the_key_changed(cache_dir):
    with kernel(cache_dir) as nb:
        run_all(nb, [("up", "n <- 2"), ("reader", "n * 100")])
        text = nb.probe("cat(ripple::why('reader'))").stream_text()
        assert "would be served from the cache" in text, text
        nb.probe("ripple::mode('lazy')")
        nb.execute_cell("up", "n <- 3")
        text = nb.probe("cat(ripple::why('reader'))").stream_text()
        assert "would recompute" in text and "`n`" in text, text
