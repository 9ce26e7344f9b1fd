"""fresh_run.py: the invariant as a test helper: what a KernelDriver shows for each cell equals a fresh Rscript run of
the notebook's current cells (oracle.py), and the ripple kernel such tests run with the cache off or on. Knows the
driver and the oracle, nothing of the engine."""
from contextlib import contextmanager

from driver import KernelDriver
from kernel_env import running_kernel
from oracle import run_reference


@contextmanager
def ripple_notebook(monkeypatch, tmp_path, cache, timeout=90):
    """A KernelDriver on a new ripple kernel: RIPPLE_CACHE=off when `cache` is "off", else an empty cache directory
    under tmp_path."""
    if cache == "off":
        monkeypatch.setenv("RIPPLE_CACHE", "off")
    else:
        monkeypatch.setenv("RIPPLE_CACHE_DIR", str(tmp_path / "cache"))
    with running_kernel("ripple") as (km, kc):
        yield KernelDriver(kc, km, timeout=timeout)


def run_cells(nb, cells):
    """Executes (id, code) cells in order as tracked cells; each must finish (ok or an R error)."""
    for cell_id, code in cells:
        res = nb.execute_cell(cell_id, code)
        assert res.status in ("ok", "error"), res.summary()


def assert_fresh(nb, cells):
    """Every cell's shown output equals a fresh top-to-bottom run of `cells` (id, code) in a new Rscript."""
    reference = run_reference(cells, timeout=120)
    for cell_id, code in cells:
        assert nb.shown.get(cell_id, "").rstrip("\n") == reference.composites[cell_id].rstrip("\n"), (
            f"cell {cell_id} ({code!r}) shows {nb.shown.get(cell_id)!r}; a fresh run shows "
            f"{reference.composites[cell_id]!r}")
