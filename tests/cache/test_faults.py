# test_faults.py: a cache that cannot take what a run stores (SPEC section 5): a full tmpfs, a read-only file system
# under the cache directory -> run-notebook shows exactly what a run without the cache shows, says so in one line,
# leaves nothing half-written, and a later run is still right. Needs root (mounts, in a private mount namespace).
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "cli"))

from cli_env import read_notebook, run, run_notebook_binary, text_of, write_notebook  # noqa: E402

if os.geteuid() != 0:
    pytest.fail("cache.faults mounts file systems and needs root (ctest skips it for other users)",
                pytrace=False)

MOUNT_REFUSED = 90

# Three values of about 3 MB each: more than an 8 MB tmpfs holds with the database beside them.
CELLS = ["set.seed(7)\na <- runif(400000)\nround(sum(a))",
         "b <- a + 1\nround(sum(b))",
         "d <- a * 3\nround(sum(d))",
         "sum(a > 0.5)"]


def texts(notebook):
    return [[text_of(o) for o in cell.get("outputs", [])] for cell in notebook.cells]


def cache_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("ripple")]


class Run:
    def __init__(self, work, name):
        self.out, self.report = work / f"{name}.out.ipynb", work / f"{name}.report.json"
        self.stderr_file, self.rc_file = work / f"{name}.stderr", work / f"{name}.rc"

    def load(self):
        self.returncode = int(self.rc_file.read_text())
        self.stderr = self.stderr_file.read_text()
        self.lines = cache_lines(self.stderr)
        assert self.returncode == 0, self.stderr
        self.notebook = read_notebook(self.out)
        self.report = json.loads(self.report.read_text())
        return self


def in_namespace(setup, cache, notebook, runs, work, env=None):
    """Runs `setup` (shell, mounts on "$0" = the cache directory), then run-notebook once per name in `runs`, in a
    private mount namespace: the mounts vanish with it, whatever happens. Returns the loaded runs and a listing
    of the cache directory's files as the namespace saw it at the end."""
    listing = work / "listing.txt"
    script = [setup + f" || exit {MOUNT_REFUSED}"]
    results = []
    for name in runs:
        r = Run(work, name)
        argv = [str(run_notebook_binary()), str(notebook), "-o", str(r.out), "--report", "json", str(r.report),
                "-q", "--cache-dir", str(cache)]
        script.append(f"{shlex.join(argv)} 2> {shlex.quote(str(r.stderr_file))}; "
                      f"echo $? > {shlex.quote(str(r.rc_file))}")
        results.append(r)
    script.append(f'find "$0" -type f -printf "%P %s\\n" > {shlex.quote(str(listing))}')
    full_env = dict(os.environ, LC_ALL="C.UTF-8")
    full_env.pop("RIPPLE_CACHE_MAX_SIZE", None)  # the tests say which limit they mean
    full_env.update(env or {})
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", "\n".join(script), str(cache)],
                          capture_output=True, text=True, env=full_env, timeout=600)
    if proc.returncode == MOUNT_REFUSED:
        pytest.fail(f"could not mount for the fault test: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    files = dict(line.rsplit(" ", 1) for line in listing.read_text().splitlines())
    return [r.load() for r in results], files


@pytest.fixture
def reference(tmp_path):
    nb = write_notebook(tmp_path / "nb.ipynb", CELLS)
    proc = run([nb, "-o", tmp_path / "plain.ipynb", "--no-cache", "-q"], timeout=300)
    assert proc.returncode == 0, proc.stderr
    return nb, texts(read_notebook(tmp_path / "plain.ipynb"))


def test_a_full_tmpfs_gives_correct_outputs_one_warning_and_no_half_written_value(tmp_path, reference):
    nb, expected = reference
    cache = tmp_path / "cache"
    cache.mkdir()
    # A limit above the file system's size: the disk runs out before the budget is reached.
    (first, second), files = in_namespace("mount -t tmpfs -o size=8m ripple-full-test \"$0\"", cache, nb,
                                          ["first", "second"], tmp_path, env={"RIPPLE_CACHE_MAX_SIZE": "1G"})
    for r in (first, second):
        assert texts(r.notebook) == expected
        assert len(r.lines) == 1 and "the disk is full" in r.lines[0], r.stderr
    assert first.report["counts"]["from_cache"] == 0
    assert second.report["counts"]["from_cache"] >= 1, second.report  # what fitted is served
    assert not [f for f in files if f.startswith("tmp/")], f"temporary files were left behind: {files}"
    # Every value file present is whole: run-notebook verified each hit by hash, and the listing shows no stray
    # partial file (a value file's name is its hash; its size is the recorded one, checked on load).
    assert all(f.startswith("values/") or f.startswith("cache.sqlite") for f in files), files


def test_the_default_limit_on_a_small_file_system_is_a_tenth_of_it(tmp_path, reference):
    nb, expected = reference
    cache = tmp_path / "cache"
    cache.mkdir()
    (only,), files = in_namespace("mount -t tmpfs -o size=8m ripple-small-test \"$0\"", cache, nb, ["small"],
                                  tmp_path)
    assert texts(only.notebook) == expected
    assert len(only.lines) == 1, only.stderr
    assert "larger than the cache's size limit (838860 bytes" in only.lines[0], only.lines
    assert sum(int(size) for size in files.values()) <= 838860


def test_a_read_only_cache_serves_what_it_has_and_runs_the_rest_with_one_warning(tmp_path, reference):
    nb, expected = reference
    cache = tmp_path / "cache"
    # A cache filled with the first two cells; the notebook then asks for all four.
    first_two = write_notebook(tmp_path / "two.ipynb", CELLS[:2])
    proc = run([first_two, "-o", tmp_path / "two.out.ipynb", "--cache-dir", cache, "-q"], timeout=300)
    assert proc.returncode == 0 and cache_lines(proc.stderr) == [], proc.stderr
    before = sorted(p.relative_to(cache) for p in cache.rglob("*") if p.is_file())
    read_only = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && ! touch "$0/probe" 2>/dev/null'
    (only,), _ = in_namespace(read_only, cache, nb, ["ro"], tmp_path)
    assert texts(only.notebook) == expected
    assert len(only.lines) == 1 and "read-only" in only.lines[0], only.stderr
    assert only.report["counts"]["from_cache"] == 2, only.report
    assert sorted(p.relative_to(cache) for p in cache.rglob("*") if p.is_file()) == before


def test_an_empty_read_only_cache_directory_is_one_warning_and_a_normal_run(tmp_path, reference):
    nb, expected = reference
    cache = tmp_path / "empty"
    cache.mkdir()
    read_only = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && ! touch "$0/probe" 2>/dev/null'
    (only,), files = in_namespace(read_only, cache, nb, ["empty"], tmp_path)
    assert texts(only.notebook) == expected
    assert len(only.lines) == 1, only.stderr
    assert files == {}


def test_a_kernel_on_a_full_tmpfs_shows_correct_results_and_one_warning_per_session(tmp_path, reference):
    sys.path.insert(0, str(HERE.parent / "engine"))
    sys.path.insert(0, str(HERE.parent / "kernel"))
    from driver import KernelDriver
    from kernel_env import KernelEnv

    _, expected = reference
    cache = tmp_path / "kernel-cache"
    cache.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "ripple-kernel-full-test", str(cache)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"could not mount a tmpfs for the kernel's full-disk test: {mounted.stderr.strip()}")
    try:
        env = {"RIPPLE_CACHE_DIR": str(cache), "RIPPLE_CACHE_MAX_SIZE": "1G"}
        with KernelEnv(["ripple"]) as kenv:
            for session in ("first", "after a restart"):
                with kenv.start("ripple", env=env) as (km, kc):
                    nb = KernelDriver(kc, km, timeout=120)
                    results = [nb.execute_cell(f"c{i}", code) for i, code in enumerate(CELLS)]
                    lines = [line for r in results for line in r.stream_text().splitlines()
                             if line.startswith("ripple")]
                    assert len(lines) == 1 and "the disk is full" in lines[0], (session, lines)
                    shown = [nb.shown[f"c{i}"].rstrip("\n") for i in range(len(CELLS))]
                    assert shown == ["".join(t).rstrip("\n") for t in expected], session
                    served = [c for r in results for c in r.reply["content"].get("ripple_from_cache", [])]
                    if session == "first":
                        assert served == []
                    else:
                        assert "c0" in served, [r.summary() for r in results]  # what fitted is served
        assert not list((cache / "tmp").glob("*")), "temporary files were left behind"
    finally:
        subprocess.run(["umount", str(cache)], check=False)
