# test_reflective_reads.py: cells that read the global environment by name or as a whole (exists, get0, mget, ls,
# .GlobalEnv$x, eval(parse(text = ))) through the real kernel: a new kernel sharing the cache of an earlier one never
# shows what the earlier session held, and in one session an edit above reruns a reader of a name it defines.
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "kernel"))

from driver import KernelDriver  # noqa: E402
from kernel_env import running_kernel  # noqa: E402
from fresh_run import assert_fresh, run_cells  # noqa: E402

READERS = [("r1", "exists('y')"), ("r2", "get0('y', ifnotfound = 'none')"), ("r3", "ls()"),
           ("r4", "f <- function() exists('y'); f()"), ("r5", "eval(parse(text = 'if (exists(\"y\")) y else 0'))"),
           ("r6", "mget('y', ifnotfound = list(NA))"), ("r7", "nm <- 'y'; exists(nm)"),
           ("f8", "lister <- function() ls(globalenv())"), ("r8", "lister()")]


def test_a_new_kernel_never_shows_what_another_session_held(tmp_path, monkeypatch):
    monkeypatch.setenv("RIPPLE_CACHE_DIR", str(tmp_path / "shared-cache"))
    earlier = [("y1", "y <- 5")] + READERS
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=90)
        run_cells(nb, earlier)
        assert_fresh(nb, earlier)
    # The same readers in a new kernel whose session never defines y: every answer must be this session's.
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=90)
        run_cells(nb, READERS)
        assert nb.shown["r1"].strip() == "[1] FALSE", nb.shown
        assert_fresh(nb, READERS)


def test_defining_a_name_above_reruns_its_reflective_readers(monkeypatch):
    monkeypatch.setenv("RIPPLE_CACHE", "off")
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=90)
        readers = [("r1", "exists('y')"), ("r2", "get0('y', ifnotfound = 'none')"), ("r5", READERS[4][1])]
        run_cells(nb, readers)
        # A cell inserted above the readers that binds y: the readers of the literal name are stale and rerun.
        cells = [("y1", "y <- 7")] + readers
        nb.send_notebook(cells)
        res = nb.execute_cell("y1", "y <- 7")
        assert res.status == "ok", res.summary()
        assert nb.shown["r1"].strip() == "[1] TRUE", nb.shown
        assert_fresh(nb, cells)


def test_a_cell_listing_the_environment_reruns_when_a_binding_above_changes(monkeypatch):
    monkeypatch.setenv("RIPPLE_CACHE", "off")
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=90)
        cells = [("a", "x <- 1"), ("l", "ls()"), ("m", "length(mget(ls(), envir = globalenv()))")]
        run_cells(nb, cells)
        assert nb.shown["l"].strip() == '[1] "x"', nb.shown
        # A new cell above binds y: the listing cells rerun and see it; one below them does not show in them.
        cells = [("a", "x <- 1"), ("b", "y <- 2"), ("l", "ls()"), ("m", "length(mget(ls(), envir = globalenv()))"),
                 ("z", "zz <- 3")]
        nb.send_notebook(cells)
        for cell_id in ("b", "z"):
            res = nb.execute_cell(cell_id, dict(cells)[cell_id])
            assert res.status == "ok", res.summary()
        assert nb.shown["l"].strip() == '[1] "x" "y"', nb.shown
        assert_fresh(nb, cells)
