"""pytest set-up for tests/cli: every test gets its own empty cache directory (RIPPLE_CACHE_DIR, inherited by every
run-notebook it starts), so no test reads or fills the user's ~/.cache/ripple or sees another test's entries."""

import pytest


@pytest.fixture(autouse=True)
def own_cache_dir(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.mktemp("ripple-cache")
    monkeypatch.setenv("RIPPLE_CACHE_DIR", str(cache))
    monkeypatch.delenv("RIPPLE_CACHE", raising=False)
    return cache
