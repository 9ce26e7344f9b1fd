"""test_private_files.py: the cache and the history a kernel writes are its user's alone (directories 0700, files
0600, the SQLite database, WAL and shm and value files included) under umask 022; a cache directory that is
group-writable on purpose stays shared (0770 / 0660). Through the real kernel, with a value large enough to be a file.
"""

import os
import stat
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kernel_env import KernelEnv, execute  # noqa: E402

CELLS = [("c1", "big <- seq_len(2e5) * 1.5"), ("c2", "small <- mean(big)"), ("c3", "cat(round(small, 3) * 0)")]


def run_tracked_cells(cache_dir: Path, data_home: Path):
    """A kernel with this cache and XDG data home (its history) runs three tracked cells, storing their values.
    Returns the modes of everything under the cache and the history folder, read while the kernel still runs
    (SQLite removes its WAL and shm files when the last connection closes)."""
    env = {"RIPPLE_CACHE_DIR": str(cache_dir), "XDG_DATA_HOME": str(data_home)}
    saved = {k: os.environ.get(k) for k in ("RIPPLE_CACHE_DIR", "RIPPLE_HISTORY_FILE", "XDG_DATA_HOME")}
    old_umask = os.umask(0o022)
    try:
        with KernelEnv(["ripple"]) as kenv:
            os.environ.pop("RIPPLE_HISTORY_FILE", None)  # the default location, under XDG_DATA_HOME
            os.environ.update(env)
            with kenv.start("ripple") as (_km, kc):
                for cell_id, code in CELLS:
                    res = execute(kc, code, metadata={"cellId": cell_id}, timeout=60)
                    assert res.status == "ok", res.summary()
                return modes_under(cache_dir), modes_under(data_home / "ripple")
    finally:
        os.umask(old_umask)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def modes_under(root: Path):
    out = {root: stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        out[path] = stat.S_IMODE(path.lstat().st_mode)
    return out


def test_cache_and_history_are_the_users_alone():
    with tempfile.TemporaryDirectory(prefix="ripple-private-") as tmp:
        cache_dir, data_home = Path(tmp) / "cache" / "ripple", Path(tmp) / "data"
        data_home.mkdir(mode=0o755)
        os.chmod(data_home, 0o755)
        cache, history = run_tracked_cells(cache_dir, data_home)
        assert any(p.name == "cache.sqlite" for p in cache), sorted(cache)
        assert any(p.name.endswith("-wal") for p in cache), "expected SQLite's WAL file in the cache"
        assert any(p.is_file() and "values" in p.parts for p in cache), "expected a value stored as a file"
        assert any(p.name == "history.sqlite" for p in history), sorted(history)
        loose = {str(p): oct(m) for p, m in {**cache, **history}.items() if m & 0o077}
        assert not loose, f"readable or writable by others or the group under umask 022: {loose}"
        assert stat.S_IMODE((Path(tmp) / "cache").stat().st_mode) == 0o700, "a parent ripple created is not 0700"


def test_group_shared_cache_stays_shared():
    with tempfile.TemporaryDirectory(prefix="ripple-shared-") as tmp:
        cache_dir, data_home = Path(tmp) / "team-cache", Path(tmp) / "data"
        cache_dir.mkdir()
        os.chmod(cache_dir, 0o2770)  # shared on purpose, as a CI admin would set it up
        data_home.mkdir()
        cache, _history = run_tracked_cells(cache_dir, data_home)
        files = {p: m for p, m in cache.items() if p.is_file()}
        dirs = {p: m for p, m in cache.items() if p.is_dir()}
        assert files and any("values" in p.parts for p in files), sorted(cache)
        not_group = {str(p): oct(m) for p, m in files.items() if m & 0o060 != 0o060}
        assert not not_group, f"files in a group-shared cache that the group cannot read and write: {not_group}"
        not_group = {str(p): oct(m) for p, m in dirs.items() if m & 0o070 != 0o070}
        assert not not_group, f"folders in a group-shared cache closed to the group: {not_group}"
        others = {str(p): oct(m) for p, m in cache.items() if m & 0o007}
        assert not others, f"a shared cache is still closed to others: {others}"
