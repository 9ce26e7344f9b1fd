# test_package_state.py: packages' own state through the real kernel: data.table changed in place and rebuilt after an
# edit, options a package set when it loaded, data.table's print suppression after `:=`, R6 objects. Each scenario
# ends with every cell's shown output equal to a fresh Rscript run of the current cells (the invariant, SPEC section 1).
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "kernel"))

from driver import KernelDriver  # noqa: E402
from kernel_env import running_kernel  # noqa: E402
from fresh_run import assert_fresh, ripple_notebook, run_cells  # noqa: E402


@pytest.fixture(params=["off", "on"])
def nb(request, tmp_path, monkeypatch):
    with ripple_notebook(monkeypatch, tmp_path, request.param) as driver:
        yield driver


def run_session(nb, cells, edits):
    """Runs `cells` (id, code) top to bottom, then each edit (id, new code) as a rerun of that cell; returns the
    notebook's current cells."""
    current = dict(cells)
    run_cells(nb, cells)
    for cell_id, code in edits:
        current[cell_id] = code
        res = nb.execute_cell(cell_id, code)
        assert res.status in ("ok", "error"), res.summary()
    return [(cell_id, current[cell_id]) for cell_id, _ in cells]


def test_data_table_loaded_by_a_cell_survives_its_rebuild(nb):
    # Editing the := cell rebuilds dt by rerunning its defining cell, which loaded data.table's namespace there:
    # the options data.table set when it loaded (datatable.verbose, ...) must still be there when it reruns.
    cells = [("b", "dt <- data.table::data.table(a = 1:3)"), ("c", "dt[, b := a * 2]"), ("d", "print(dt)")]
    current = run_session(nb, cells, [("c", "dt[, b := a * 3]")])
    assert "3: 3 9" in nb.shown["d"], nb.shown
    assert_fresh(nb, current)


def test_colon_equals_prints_nothing_as_in_the_console(nb):
    # (data.table greets interactive sessions only: the kernel is one, a fresh Rscript is not.)
    cells = [("a", "suppressPackageStartupMessages(library(data.table))"), ("b", "dt <- data.table(a = 1:3)"), ("c", "dt[, b := 1L]"),
             ("d", "dt[, e := a + b][]"), ("e", "set(dt, j = 'f', value = 0); dt")]
    current = run_session(nb, cells, [("b", "dt <- data.table(a = 4:6)")])
    assert nb.shown["c"] == "", nb.shown
    assert "1: 4 1 5 0" in nb.shown["e"], nb.shown
    assert_fresh(nb, current)


def test_r6_object_changed_in_place_is_rebuilt(nb):
    cells = [("a", "library(R6)"),
             ("b", "Counter <- R6Class('Counter', public = list(n = 0, add = function(k = 1) { self$n <- self$n + k; invisible(self) }))"),
             ("c", "k <- Counter$new()"), ("d", "k$add(2)"), ("e", "k$n")]
    current = run_session(nb, cells, [("d", "k$add(5)"), ("d", "k$add(1)")])
    assert nb.shown["e"].strip() == "[1] 1", nb.shown
    assert_fresh(nb, current)


def test_package_option_changed_later_goes_back_to_the_package_default(nb):
    # A later cell changes a package's option; editing the cell that loaded the package reruns it with the option
    # as the package set it, as a fresh run would, not with the later cell's value and not without it.
    cells = [("b", "dt <- data.table::data.table(a = 1:3)"), ("c", "options(datatable.print.nrows = 1L)"),
             ("d", "getOption('datatable.print.nrows')")]
    current = run_session(nb, cells, [("b", "dt <- data.table::data.table(a = 1:4)")])
    assert nb.shown["d"].strip() == "[1] 1", nb.shown
    assert_fresh(nb, current)


def test_a_cell_that_loads_a_package_stays_cacheable(tmp_path, monkeypatch):
    # data.table sets its options when its namespace loads; that is the package's state, not an options() change of
    # the cell's, so the cell is served from the cache in a new kernel like any other.
    monkeypatch.setenv("RIPPLE_CACHE_DIR", str(tmp_path / "cache"))
    cell = ("t", "total <- sum(data.table::data.table(a = 1:3, b = c(2, 4, 6))$b); total")
    for run in ("first", "after a restart"):
        with running_kernel("ripple") as (km, kc):
            nb = KernelDriver(kc, km, timeout=90)
            res = nb.execute_cell(*cell)
            assert res.status == "ok", res.summary()
            assert nb.shown["t"].strip() == "[1] 12", nb.shown
            served = res.reply["content"].get("ripple_from_cache", [])
            assert served == ([] if run == "first" else ["t"]), f"{run}: served {served}"


def test_environment_variables_are_state_like_options(nb):
    # Editing Sys.setenv() reruns the cells that read the variable; the edit's old value is not left behind.
    cells = [("a", 'Sys.setenv(REGION = "west")'), ("b", 'Sys.getenv("REGION")'),
             ("c", 'region <- toupper(Sys.getenv("REGION")); region'), ("d", 'Sys.getenv("RIPPLE_TEST_UNSET", "none")')]
    current = run_session(nb, cells, [("a", 'Sys.setenv(REGION = "east")')])
    assert nb.shown["b"].strip() == '[1] "east"', nb.shown
    assert_fresh(nb, current)
    # Unset it: the readers see it gone; set another one: a reader of that one sees it.
    run_session(nb, [], [("a", 'Sys.setenv(RIPPLE_TEST_UNSET = "set")')])
    current = [("a", 'Sys.setenv(RIPPLE_TEST_UNSET = "set")')] + cells[1:]
    assert nb.shown["b"].strip() == '[1] ""', nb.shown
    assert nb.shown["d"].strip() == '[1] "set"', nb.shown
    assert_fresh(nb, current)
