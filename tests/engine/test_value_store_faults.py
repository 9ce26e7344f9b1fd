# test_value_store_faults.py: a large value's forked write meets a full disk (a small tmpfs as the cache; needs root to
# mount it): the cells still show what a fresh run shows, one notice says the value could not be written, and a new
# kernel on the same cache recomputes instead of serving anything half-written.
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "kernel"))

from driver import KernelDriver  # noqa: E402
from kernel_env import running_kernel  # noqa: E402
from fresh_run import assert_fresh, run_cells  # noqa: E402


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "cache"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_during_a_background_write(small_tmpfs, monkeypatch):
    monkeypatch.setenv("RIPPLE_CACHE_DIR", str(small_tmpfs))
    monkeypatch.setenv("RIPPLE_LARGE_VALUE", "1M")
    # A 16 MB value that took long enough to be worth storing: its write cannot fit in 3 MB.
    cells = [("f1", "set.seed(9); w <- rnorm(2e6); Sys.sleep(0.5)"), ("f2", "w <- w * 2"),
             ("f3", "cat(sprintf('%.6f\\n', sum(w)))")]
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=120)
        results = [nb.execute_cell(cid, code) for cid, code in cells]
        assert all(r.status == "ok" for r in results), [r.summary() for r in results]
        assert_fresh(nb, cells)
        # The write's outcome is collected while the kernel idles or at the next request: its notice comes once.
        texts = [r.stream_text("stderr") + r.stream_text("stdout") for r in results]
        for i in range(4):
            res = nb.execute_cell("f3", cells[2][1])
            texts.append(res.stream_text("stderr") + res.stream_text("stdout"))
        said = [t for t in texts if "could not be written to the cache" in t]
        assert len(said) == 1, texts
        assert_fresh(nb, cells)
    leftovers = [p for p in small_tmpfs.rglob("*") if p.is_file() and p.stat().st_size > 1_000_000]
    assert not leftovers, f"a half-written value was left behind: {leftovers}"
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=120)
        run_cells(nb, cells)
        assert_fresh(nb, cells)
