# test_concurrency.py: several processes on one cache directory at once (SPEC section 5): no errors, no lost or
# half-written entries, every hit verified byte for byte by the driver; also with a concurrent gc.
import time

from cache_driver import check_clean, finish, run, start

KEYS = 300


def test_four_processes_write_and_read_one_directory(tmp_path):
    workers = [start("hammer", tmp_path, worker=w, ops=500, keys=KEYS, seed=11) for w in range(4)]
    results = [finish(p) for p in workers]
    stored = set()
    for result in results:
        check_clean(result, expect_warnings=0)
        assert result.summary["store_failures"] == 0, result.describe()
        stored |= set(result.summary["stored_keys"])
    # They really shared the work: each saw entries the others stored.
    assert sum(r.summary["hits"] for r in results) > 200
    assert sum(r.summary["stores"] for r in results) >= len(stored)  # two may compute the same entry

    # Nothing stored was lost: a fresh process finds every one of them, intact.
    after = run("verify", tmp_path, keys=KEYS)
    check_clean(after, expect_warnings=0)
    assert after.summary["hits"] == len(stored)
    assert after.summary["stats"]["entries"] == len(stored)
    # Values are stored once: one "common" value shared by all entries, plus each entry's own.
    own = sum(1 + (k % 3 == 0) for k in stored)
    assert after.summary["stats"]["values"] == own + 1
    # No temporary file of a writer is left behind.
    assert not any((tmp_path / "tmp").iterdir())


def test_readers_and_writers_alongside_a_gc_that_keeps_evicting(tmp_path):
    workers = [start("hammer", tmp_path, worker=w, ops=400, keys=KEYS, seed=23, grace_seconds=1) for w in range(3)]
    gcs = []
    while any(p.poll() is None for p in workers):
        gcs.append(run("gc", tmp_path, max_bytes=400_000, grace_seconds=1))
        time.sleep(0.05)
    results = [finish(p) for p in workers]
    for result in results + gcs:
        check_clean(result, expect_warnings=0)
    assert len(gcs) >= 2
    assert sum(g.summary["gc"]["entries_removed"] for g in gcs) > 0
    final = run("verify", tmp_path, keys=KEYS)
    check_clean(final, expect_warnings=0)
