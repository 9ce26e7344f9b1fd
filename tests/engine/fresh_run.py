"""fresh_run.py: the invariant as a test helper: what a KernelDriver shows for each cell equals a fresh Rscript run of
the notebook's current cells (oracle.py). Knows the driver and the oracle, nothing of the engine."""

from oracle import run_reference


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
