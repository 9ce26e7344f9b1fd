# test_corruption.py: a damaged cache directory costs time, never correctness (SPEC section 5): a truncated or
# flipped value, a WAL deleted mid-run, a read-only directory, a full file system or file size limit, a locked
# database -> misses and recomputes with one-line warnings; no crash, no wrong value (the driver checks every hit).
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from cache_driver import STRESS, check_clean, command, finish, run, start, value_files

KEYS = 30  # entries 0, 3, 6, ... also have a large value kept as a file


def filled(directory, keys=KEYS):
    result = run("fill", directory, keys=keys)
    check_clean(result, expect_warnings=0)
    assert result.summary["stores"] == keys
    return result


def test_truncated_value_file_is_a_miss_then_recomputed(tmp_path):
    filled(tmp_path)
    files = value_files(tmp_path)
    assert len(files) == 10
    victim = files[3]
    size = victim.stat().st_size
    os.truncate(victim, size // 2)

    after = run("verify", tmp_path, keys=KEYS)
    check_clean(after, expect_warnings=1)
    assert after.summary["misses"] == 1 and after.summary["hits"] == KEYS - 1
    assert "is damaged" in after.warnings[0] and f"{size // 2} bytes instead of {size}" in after.warnings[0]
    assert not victim.exists()

    recomputed = run("fill", tmp_path, keys=KEYS)
    check_clean(recomputed, expect_warnings=0)
    assert recomputed.summary["stores"] == 1
    check_clean(run("verify", tmp_path, keys=KEYS, expect="all"), expect_warnings=0)


def test_flipped_bytes_in_a_value_file_are_caught_by_its_hash(tmp_path):
    filled(tmp_path)
    victim = value_files(tmp_path)[5]
    with open(victim, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))

    after = run("verify", tmp_path, keys=KEYS)
    check_clean(after, expect_warnings=1)
    assert "does not match its hash" in after.warnings[0]
    assert after.summary["misses"] == 1
    check_clean(run("fill", tmp_path, keys=KEYS), expect_warnings=0)
    check_clean(run("verify", tmp_path, keys=KEYS, expect="all"), expect_warnings=0)


def test_flipped_bytes_in_a_shared_inline_value_make_every_user_miss_with_one_warning(tmp_path):
    filled(tmp_path)
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        # The one 3000-byte value every entry shares ("common"), kept inside SQLite.
        (hash_, data), = db.execute("SELECT hash, inline_data FROM blobs WHERE size = 3000").fetchall()
        damaged = bytearray(data)
        damaged[1500] ^= 0x01
        db.execute("UPDATE blobs SET inline_data = ? WHERE hash = ?", (bytes(damaged), hash_))

    after = run("verify", tmp_path, keys=KEYS)
    check_clean(after, expect_warnings=1)
    assert hash_[:12] in after.warnings[0]
    assert after.summary["hits"] == 0 and after.summary["misses"] == KEYS
    check_clean(run("fill", tmp_path, keys=KEYS), expect_warnings=0)
    check_clean(run("verify", tmp_path, keys=KEYS, expect="all"), expect_warnings=0)


def test_deleting_the_wal_while_processes_run_never_gives_a_wrong_value(tmp_path):
    wal = tmp_path / "cache.sqlite-wal"
    # Each worker opens the cache anew every 100 operations, as new runs would: the WAL comes back and goes again.
    workers = [start("hammer", tmp_path, worker=w, ops=1500, keys=600, seed=5, reopen_every=100) for w in range(4)]
    deletions = 0
    while any(p.poll() is None for p in workers):
        try:
            wal.unlink()
            deletions += 1
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    results = [finish(p) for p in workers]
    assert deletions >= 10, "the WAL file was rarely there to delete: the condition was not created"
    for result in results:
        check_clean(result)
    final = run("verify", tmp_path, keys=600)
    check_clean(final)
    assert final.summary["hits"] > 0


def make_read_only(directory, how):
    """Makes `directory` read-only for the driver and returns the command prefix that runs it so.
    chmod: an unprivileged user's view (root ignores permissions, so root runs the driver as nobody);
    bind-mount: a read-only file system (root only), which no permission bit can get around."""
    if how == "chmod":
        for root, dirs, files in os.walk(directory):
            for name in dirs + files:
                os.chmod(os.path.join(root, name), 0o555 if name in dirs else 0o444)
        os.chmod(directory, 0o555)
        if os.geteuid() != 0:
            assert not os.access(directory, os.W_OK), f"could not make {directory} read-only"
            return []
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        probe = subprocess.run(prefix + ["touch", str(directory / "probe")], capture_output=True, text=True)
        assert probe.returncode != 0, f"{directory} is still writable for nobody: the condition was not created"
        return prefix
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" || exit 90; exec "$@"'
    prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(directory)]
    probe = subprocess.run(prefix + ["touch", str(directory / "probe")], capture_output=True, text=True)
    if probe.returncode == 90:
        pytest.fail(f"cannot create a read-only directory: bind mount refused ({probe.stderr.strip()})")
    assert probe.returncode != 0 and not (directory / "probe").exists(), "the bind mount did not make it read-only"
    return prefix


READ_ONLY_WAYS = ["chmod", "bind-mount"] if os.geteuid() == 0 else ["chmod"]


@pytest.mark.parametrize("how", READ_ONLY_WAYS)
def test_read_only_directory_serves_hits_and_skips_stores_with_one_warning(how):
    # Under /tmp with open permissions, so that an unprivileged driver can reach it.
    parent = Path(tempfile.mkdtemp(prefix="ripple-cache-ro-"))
    os.chmod(parent, 0o755)
    directory = parent / "cache"
    directory.mkdir()
    try:
        filled(directory)
        for root, dirs, files in os.walk(directory):
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        prefix = make_read_only(directory, how)
        result = finish(start("hammer", directory, prefix=prefix, worker=1, ops=120, keys=2 * KEYS, seed=3))
    finally:
        for root, dirs, files in os.walk(parent):
            os.chmod(root, 0o755)
        shutil.rmtree(parent, ignore_errors=True)
    check_clean(result, expect_warnings=1)
    assert "read-only" in result.warnings[0]
    assert result.summary["store_failures"] > 0 and result.summary["stores"] == 0
    assert result.summary["hits"] > 0  # what was cached before is still served, verified


def full_filesystem_run(directory):
    """fill then verify in a directory that runs out of space: a few-MB tmpfs for root, else RLIMIT_FSIZE."""
    fill = command("fill", directory, keys=400, big_bytes=60000)
    verify = command("verify", directory, keys=400, big_bytes=60000)
    if os.geteuid() == 0:
        script = ('mount -t tmpfs -o size=3m ripple-cache-test "$0" || exit 90; '
                  + " ".join(map(shlex_quote, fill)) + "; " + " ".join(map(shlex_quote, verify)))
        process = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(directory)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        result = finish(process)
        if result.returncode == 90:
            pytest.fail(f"cannot mount a small tmpfs for the full-disk test: {result.stderr.strip()}")
        return result, "a 3 MB tmpfs"
    return file_size_limit_run(directory, fill, verify), "RLIMIT_FSIZE (not root: no tmpfs)"


def shlex_quote(text):
    import shlex
    return shlex.quote(text)


def file_size_limit_run(directory, fill, verify):
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
    script = " ".join(map(shlex_quote, fill)) + "; " + " ".join(map(shlex_quote, verify))
    process = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=limit)
    return finish(process)


def check_full(result, how):
    assert len(result.summaries) == 2, f"{how}: " + result.describe()
    fill, verify = result.summaries
    assert fill["store_failures"] > 0, f"{how}: the cache never ran out of space: the condition was not created"
    assert fill["stores"] > 0
    for summary in result.summaries:
        assert summary["wrong"] == 0, result.describe()
    assert result.returncode == 0, result.describe()
    assert verify["hits"] > 0 and verify["misses"] > 0
    # One line per kind of trouble, not one per failed store.
    assert 1 <= len(result.warnings) <= 4, result.describe()
    assert any("full" in w or "size limit" in w for w in result.warnings), result.describe()
    assert len(result.warnings) < fill["store_failures"]


def test_full_small_filesystem_skips_stores_with_a_warning(tmp_path):
    directory = tmp_path / "small"
    directory.mkdir()
    result, how = full_filesystem_run(directory)
    check_full(result, how)


def test_file_size_limit_skips_stores_with_a_warning(tmp_path):
    fill = command("fill", tmp_path, keys=400, big_bytes=60000)
    verify = command("verify", tmp_path, keys=400, big_bytes=60000)
    check_full(file_size_limit_run(tmp_path, fill, verify), "RLIMIT_FSIZE")


def test_a_database_locked_by_another_process_skips_stores_and_still_serves_hits(tmp_path):
    filled(tmp_path)
    db = sqlite3.connect(tmp_path / "cache.sqlite", isolation_level=None, timeout=10)
    db.execute("BEGIN EXCLUSIVE")
    db.execute("UPDATE entries SET hit_count = hit_count")
    try:
        result = run("hammer", tmp_path, worker=2, ops=80, keys=2 * KEYS, seed=9, busy_ms=150)
    finally:
        db.execute("ROLLBACK")
        db.close()
    check_clean(result, expect_warnings=1)
    assert "lock" in result.warnings[0]
    assert result.summary["hits"] > 0 and result.summary["store_failures"] > 0
    check_clean(run("fill", tmp_path, keys=2 * KEYS), expect_warnings=0)
    check_clean(run("verify", tmp_path, keys=2 * KEYS, expect="all"), expect_warnings=0)
