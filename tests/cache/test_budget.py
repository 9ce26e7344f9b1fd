# test_budget.py: the cache's disk budget (SPEC section 5, RIPPLE_CACHE_MAX_SIZE) as users meet it: run-notebook runs
# over a notebook of multi-MB values keep the cache directory under the limit, show what a run without the cache
# shows, and still serve the latest cells; a kernel's live session survives eviction and is served after a restart.
import json
import os
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "cli"))
sys.path.insert(0, str(HERE.parent / "engine"))
sys.path.insert(0, str(HERE.parent / "kernel"))

from cli_env import read_notebook, run, text_of, write_notebook  # noqa: E402

MB = 1 << 20


def cells(seed):
    """About 6 MB of values: two 2.3 MB vectors, a 1.1 MB matrix, a small summary."""
    return [f"set.seed({seed})\na <- runif(300000)\nround(sum(a))",
            "b <- a * 2\nround(mean(b), 4)",
            "m <- matrix(a[1:150000], ncol = 3)\ndim(m)",
            "s <- summary(b)\nprint(round(s, 3))"]


def disk_bytes(directory):
    """What the cache directory holds on disk: every file's size (database, WAL, value files, temporaries)."""
    return sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file())


def texts(notebook):
    return [[text_of(o) for o in cell.get("outputs", [])] for cell in notebook.cells]


def cache_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("ripple cache:")]


def run_nb(tmp_path, name, source_cells, cache_dir=None, env=None):
    nb = write_notebook(tmp_path / f"{name}.ipynb", source_cells)
    out = tmp_path / f"{name}.out.ipynb"
    report = tmp_path / f"{name}.report.json"
    args = [nb, "-o", out, "--report", "json", report, "-q"]
    args += ["--cache-dir", cache_dir] if cache_dir else ["--no-cache"]
    proc = run(args, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    proc.notebook = read_notebook(out)
    proc.report = json.loads(report.read_text())
    return proc


def test_runs_keep_the_cache_under_the_limit_with_the_same_outputs_and_recent_hits(tmp_path):
    limit = 16 * MB
    cache = tmp_path / "cache"
    env = {"RIPPLE_CACHE_MAX_SIZE": "16M"}
    for seed in range(1, 6):
        reference = run_nb(tmp_path, f"plain{seed}", cells(seed))
        cached = run_nb(tmp_path, f"nb{seed}", cells(seed), cache, env)
        assert cache_lines(cached.stderr) == [], cached.stderr
        assert texts(cached.notebook) == texts(reference.notebook)
        assert cached.report["counts"]["from_cache"] == 0  # a new seed: every cell is new work
        on_disk = disk_bytes(cache)
        print(f"seed {seed}: cache directory {on_disk / MB:.1f} MB (limit 16 MB)")
        assert on_disk <= limit, f"after run {seed} the cache holds {on_disk} bytes, over the {limit}-byte limit"
    # Five runs of about 6 MB each went through a 16 MB cache: the oldest were evicted ...
    first_again = run_nb(tmp_path, "again1", cells(1), cache, env)
    assert first_again.report["counts"]["from_cache"] < len(cells(1))
    assert texts(first_again.notebook) == texts(run_nb(tmp_path, "plain1b", cells(1)).notebook)
    # ... and the latest run is served whole, with the same outputs.
    latest = run_nb(tmp_path, "again5", cells(5), cache, env)
    assert latest.report["counts"]["from_cache"] == len(cells(5)), latest.report
    assert texts(latest.notebook) == texts(run_nb(tmp_path, "plain5b", cells(5)).notebook)
    assert disk_bytes(cache) <= limit
    stats = run(["cache", "stats", "--cache-dir", cache], env=env)
    assert "limit:   16 MB (RIPPLE_CACHE_MAX_SIZE)" in stats.stdout, stats.stdout


def test_values_written_by_the_forked_writer_are_kept_under_the_limit_too(tmp_path):
    # RIPPLE_LARGE_VALUE=1M sends these values through the value store's forked writer (adopt_value_file); the
    # cells sleep so that storing them is worth it (rerunning them costs more than loading).
    cache = tmp_path / "cache"
    env = {"RIPPLE_CACHE_MAX_SIZE": "8M", "RIPPLE_LARGE_VALUE": "1M"}

    def forked(seed):
        return [f"Sys.sleep(1)\nset.seed({seed})\na <- runif(300000)\nround(sum(a))",
                "Sys.sleep(1)\nb <- a * 2\nround(mean(b), 4)"]

    for seed in range(1, 5):
        proc = run_nb(tmp_path, f"forked{seed}", forked(seed), cache, env)
        assert cache_lines(proc.stderr) == [], proc.stderr
        assert disk_bytes(cache) <= 8 * MB, f"after run {seed}: {disk_bytes(cache)} bytes"
    latest = run_nb(tmp_path, "forked-again", forked(4), cache, env)
    assert latest.report["counts"]["from_cache"] == 2, latest.report
    assert texts(latest.notebook) == texts(run_nb(tmp_path, "forked-plain", forked(4)).notebook)


def test_four_processes_sharing_a_limited_cache_never_see_a_wrong_value_and_end_under_it(tmp_path):
    # The store driver (cache_stress): 4 processes, each opening a new store object every 50 operations, as runs
    # and kernels come and go; every hit is checked byte for byte. About 9 MB of values offered to an 8 MB cache.
    from cache_driver import check_clean, finish, run as run_driver, start

    workers = [start("hammer", tmp_path, worker=w, ops=600, keys=400, seed=9, reopen_every=50,
                     limit_bytes=8 * MB) for w in range(4)]
    for result in [finish(p) for p in workers]:
        check_clean(result)
        assert result.summary["hits"] > 0
        # A value evicted between another process's put and its store: that entry is skipped, said once per
        # store object, never a wrong value.
        assert all("another process removed values" in line for line in result.warnings), result.describe()
    assert disk_bytes(tmp_path) <= 8 * MB
    check_clean(run_driver("verify", tmp_path, keys=400))


def test_a_bad_limit_is_one_warning_and_the_default(tmp_path):
    cache = tmp_path / "cache"
    proc = run_nb(tmp_path, "bad", cells(1)[:2], cache, {"RIPPLE_CACHE_MAX_SIZE": "plenty"})
    lines = cache_lines(proc.stderr)
    assert len(lines) == 1 and 'RIPPLE_CACHE_MAX_SIZE="plenty" is not a size' in lines[0], proc.stderr
    again = run_nb(tmp_path, "bad2", cells(1)[:2], cache, {"RIPPLE_CACHE_MAX_SIZE": "plenty"})
    assert again.report["counts"]["from_cache"] == 2


def test_a_value_larger_than_the_limit_is_not_stored_and_the_run_is_correct(tmp_path):
    cache = tmp_path / "cache"
    env = {"RIPPLE_CACHE_MAX_SIZE": "1M"}
    source = ["set.seed(3)\nbig <- runif(300000)\nlength(big)", "small <- 1:10\nsum(small)"]
    proc = run_nb(tmp_path, "big", source, cache, env)
    lines = cache_lines(proc.stderr)
    assert len(lines) == 1 and "larger than the cache's size limit" in lines[0], proc.stderr
    assert texts(proc.notebook) == texts(run_nb(tmp_path, "big-plain", source).notebook)
    assert disk_bytes(cache) <= 1 * MB
    again = run_nb(tmp_path, "big2", source, cache, env)
    assert again.report["cells"][0]["from_cache"] is False
    assert texts(again.notebook) == texts(proc.notebook)


def test_the_live_kernel_session_survives_eviction_and_is_served_after_a_restart(tmp_path):
    from driver import KernelDriver
    from kernel_env import KernelEnv

    cache = tmp_path / "cache"
    limit = {"RIPPLE_CACHE_MAX_SIZE": "14M"}
    env = {"RIPPLE_CACHE_DIR": str(cache), **limit}
    session = [(f"k{i}", f"set.seed({100 + i})\nv{i} <- runif(300000)\nround(sum(v{i}))") for i in range(4)]

    def served(res):
        return res.reply["content"].get("ripple_from_cache", [])

    with KernelEnv(["ripple"]) as kenv:
        with kenv.start("ripple", env=env) as (km, kc):
            nb = KernelDriver(kc, km, timeout=120)
            first = {}
            for cid, code in session[:2]:  # 4.6 MB of the session's own values ...
                first[cid] = nb.execute_cell(cid, code)
            # ... then a run-notebook run beside it adds about 6 MB: the session's entries are now the least
            # recently used in the cache ...
            other = run_nb(tmp_path, "other", cells(1), cache, limit)
            assert other.report["counts"]["ran"] == len(cells(1))
            time.sleep(1.5)  # a store re-reads what other processes added at most once a second
            # ... and the session's next 4.6 MB go over the 14 MB limit: eviction must spare the session's entries.
            for cid, code in session[2:]:
                first[cid] = nb.execute_cell(cid, code)
            shown = dict(nb.shown)
            assert all(not served(r) for r in first.values())
            assert disk_bytes(cache) <= 14 * MB
        with kenv.start("ripple", env=env) as (km, kc):
            nb = KernelDriver(kc, km, timeout=120)
            for cid, code in session:
                res = nb.execute_cell(cid, code)
                assert served(res), f"cell {cid} was not served from the cache after the restart: {res.summary()}"
            assert dict(nb.shown) == shown
    # What went was the other run's (more recent, but no live session's).
    again = run_nb(tmp_path, "other-again", cells(1), cache, limit)
    assert again.report["counts"]["from_cache"] < len(cells(1))
    assert texts(again.notebook) == texts(other.notebook)
