# test_remote.py: the team cache (SPEC section 5, RIPPLE_REMOTE_CACHE) served by Debian's nginx with WebDAV PUT on
# 127.0.0.1: two runners with separate local caches share it; a server that stops, stalls or refuses us; tampered
# values and unsigned or wrongly signed entries are misses, recomputed, never shown or loaded.
import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "cli"))

from cli_env import read_notebook, run, text_of, write_notebook  # noqa: E402
from team_server import TeamCacheServer  # noqa: E402

CELLS = [
    "x <- seq_len(2000) * 3",
    "set.seed(1)\nbig <- runif(20000)\nlength(big)",  # a value large enough to be a file
    "y <- sum(x)\ny",
    "z <- paste('total', y)\nprint(z)",
    "summary(big)[['Max.']] > 0.99",
]


def remote_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("ripple remote cache:")]


@pytest.fixture
def server(tmp_path):
    s = TeamCacheServer(tmp_path / "nginx").start()
    yield s
    s.stop()


@pytest.fixture
def team(tmp_path):
    """A notebook, a team key and the environment of a runner; runner(n) gives runner n its own local cache."""
    key = tmp_path / "team.key"
    key.write_text("correct horse battery staple 0123456789\n")
    nb = write_notebook(tmp_path / "nb.ipynb", CELLS)

    def runner(n, server_url, key_file=key, extra=None, args=()):
        env = {"RIPPLE_REMOTE_CACHE": server_url, "RIPPLE_REMOTE_CACHE_KEY_FILE": str(key_file)}
        env.update(extra or {})
        out = tmp_path / f"out{n}.ipynb"
        report = tmp_path / f"report{n}.json"
        started = time.monotonic()
        proc = run([nb, "-o", out, "--cache-dir", tmp_path / f"cache{n}", "--report", "json", report, *args],
                   env=env, timeout=120)
        proc.seconds = time.monotonic() - started
        proc.report = json.loads(report.read_text()) if report.exists() else None
        proc.notebook = read_notebook(out) if out.exists() else None
        return proc

    runner.dir = tmp_path
    runner.key = key
    return runner


def texts(notebook):
    return [[text_of(o) for o in cell.get("outputs", [])] for cell in notebook.cells]


def stats(runner, n, server_url):
    proc = run(["cache", "stats", "--cache-dir", runner.dir / f"cache{n}"],
               env={"RIPPLE_REMOTE_CACHE": server_url, "RIPPLE_REMOTE_CACHE_KEY_FILE": str(runner.key)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_second_runner_serves_every_cell_from_the_team_cache(server, team):
    first = team(1, server.url)
    assert first.returncode == 0, first.stderr
    assert remote_lines(first.stderr) == []
    assert first.report["counts"]["ran"] == len(CELLS)
    # write-behind finished before the first runner exited: every entry and value is on the server
    assert len(server.files("ac")) >= len(CELLS) and len(server.files("cas")) >= 3

    second = team(2, server.url)
    assert second.returncode == 0, second.stderr
    assert remote_lines(second.stderr) == []
    assert second.report["counts"]["from_cache"] == len(CELLS), second.stderr
    assert second.report["r_started"] is False  # served without R: replay steps came from the team cache too
    assert texts(second.notebook) == texts(first.notebook)
    assert "total 6003000" in "".join(sum(texts(second.notebook), []))
    # the second runner's own cache now holds them: a third run asks the server nothing
    shown = stats(team, 2, server.url)
    assert "remote hits" in shown and f"{2 * len(CELLS)} entries and replay steps fetched" in shown, shown
    asked = len(server.requests())
    again = team(2, server.url)
    assert again.report["counts"]["from_cache"] == len(CELLS)
    assert len(server.requests()) == asked
    assert f"{len(CELLS) * 2} uploaded" in stats(team, 1, server.url)


def test_server_stopped_mid_run_completes_with_one_warning(server, team, tmp_path):
    team(1, server.url)  # the server has every cell
    # a runner that finds the first cells there, then the server stops (inside the run: its third cell stops it)
    pid = server.process.pid
    nb = write_notebook(tmp_path / "nb.ipynb", CELLS[:2] + [f"invisible(tools::pskill({pid}))\n'stopped'"] + CELLS[2:])
    assert nb.exists()
    second = team(2, server.url)
    assert second.returncode == 0, second.stderr
    lines = remote_lines(second.stderr)
    assert len(lines) == 1, second.stderr
    assert "using the local cache only" in lines[0]
    assert second.report["counts"]["cells"] == len(CELLS) + 1
    assert second.report["cells"][0]["from_cache"] is True
    assert "total 6003000" in "".join(sum(texts(second.notebook), []))
    server.process.wait(timeout=10)


def test_unreachable_or_stalled_server_is_one_warning_and_bounded(team):
    # nothing listens on this port: refused at once
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = team(1, f"http://127.0.0.1:{port}")
    assert refused.returncode == 0
    assert len(remote_lines(refused.stderr)) == 1 and "using the local cache only" in refused.stderr
    # a server that accepts the connection and never answers: the first lookup waits its timeout (1 s), no more
    with socket.socket() as stalled:
        stalled.bind(("127.0.0.1", 0))
        stalled.listen(16)
        url = f"http://127.0.0.1:{stalled.getsockname()[1]}"
        slow = team(2, url, extra={"RIPPLE_REMOTE_CACHE_TIMEOUT": "1"})
    assert slow.returncode == 0, slow.stderr
    lines = remote_lines(slow.stderr)
    assert len(lines) == 1 and "using the local cache only" in lines[0], slow.stderr
    assert slow.report["counts"]["ran"] == len(CELLS)
    assert slow.seconds < refused.seconds + 5, (slow.seconds, refused.seconds)


def test_corrupted_value_on_the_server_is_recomputed_never_shown(server, team):
    first = team(1, server.url)
    values = server.files("cas")
    large = max(values, key=lambda p: p.stat().st_size)
    small = min(values, key=lambda p: p.stat().st_size)
    data = bytearray(large.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flipped
    large.write_bytes(bytes(data))
    small.write_bytes(small.read_bytes()[: small.stat().st_size // 2])  # truncated

    second = team(2, server.url)
    assert second.returncode == 0, second.stderr
    lines = remote_lines(second.stderr)
    assert len(lines) == 1 and "does not match its hash" in lines[0], second.stderr
    assert second.report["counts"]["ran"] >= 2  # the cells whose values were damaged ran again
    assert texts(second.notebook) == texts(first.notebook)


def planted_document(original, marker_hash):
    """An /ac/ document rewritten by someone without the key: the outputs say MARKER, a value points at a blob."""
    payload = json.loads(original.split(b"\n", 1)[1])
    if payload.get("kind") == "entry":
        payload["outputs"] = json.dumps([{"type": "stream", "name": "stdout", "text": "PLANTED-MARKER\n"}])
        payload["values"] = {symbol: marker_hash for symbol in payload["values"]} or {"planted": marker_hash}
    return json.dumps(payload).encode()


def test_entries_planted_without_the_key_are_ignored_never_loaded(server, team, tmp_path):
    import hashlib
    first = team(1, server.url)
    # a value the planted entries name, stored under its true hash (so only the signature can stop it)
    marker = b"PLANTED-VALUE-MARKER" * 100
    marker_hash = hashlib.sha256(marker).hexdigest()
    server.put("/cas/" + marker_hash, marker)
    documents = server.files("ac")
    for i, path in enumerate(documents):
        original = path.read_bytes()
        if i % 2 == 0:
            path.write_bytes(planted_document(original, marker_hash))  # unsigned
        else:  # signed, but with another key, over the planted payload
            import hmac
            payload = planted_document(original, marker_hash)
            mac = hmac.new(b"not the team key at all 0123456789", path.name.encode() + b"\n" + payload,
                           hashlib.sha256).hexdigest()
            path.write_bytes(b"ripple-signed-1 " + mac.encode() + b"\n" + payload)

    second = team(2, server.url)
    assert second.returncode == 0, second.stderr
    lines = remote_lines(second.stderr)
    assert len(lines) == 1 and "not signed with the team key" in lines[0], second.stderr
    assert second.report["counts"]["ran"] == len(CELLS)
    assert texts(second.notebook) == texts(first.notebook)
    assert "PLANTED" not in json.dumps(second.notebook)
    # never unserialized: the planted value was never even fetched, and is not in the runner's cache
    assert not any(marker_hash in line for line in server.requests() if "GET" in line)
    assert not any(marker_hash in p.name for p in (tmp_path / "cache2").rglob("*"))


def test_without_a_key_the_remote_is_not_used_and_says_why(server, team):
    proc = team(1, server.url, key_file="")
    assert proc.returncode == 0
    lines = remote_lines(proc.stderr)
    assert len(lines) == 1 and "RIPPLE_REMOTE_CACHE_KEY_FILE is not set" in lines[0], proc.stderr
    assert server.requests() == []


def test_https_verifies_the_server_certificate(tmp_path, team):
    server = TeamCacheServer(tmp_path / "nginx-tls", tls=True).start()
    try:
        assert server.url.startswith("https://")
        trusted = {"RIPPLE_REMOTE_CACHE_CA_FILE": str(server.certificate)}
        first = team(1, server.url, extra=trusted)
        assert remote_lines(first.stderr) == [] and len(server.files("ac")) >= len(CELLS), first.stderr
        second = team(2, server.url, extra=trusted)
        assert second.report["counts"]["from_cache"] == len(CELLS), second.stderr
        # without the CA file the self-signed certificate is not trusted: one line, local cache only
        untrusted = team(3, server.url)
        lines = remote_lines(untrusted.stderr)
        assert len(lines) == 1 and "certificate" in lines[0].lower(), untrusted.stderr
        assert untrusted.report["counts"]["ran"] == len(CELLS)
    finally:
        server.stop()


def test_bearer_token_from_a_file(tmp_path, team):
    server = TeamCacheServer(tmp_path / "nginx-token", token="s3cret-token-value").start()
    try:
        token = tmp_path / "token"
        token.write_text("s3cret-token-value\n")
        with_token = team(1, server.url, extra={"RIPPLE_REMOTE_CACHE_TOKEN_FILE": str(token)})
        assert remote_lines(with_token.stderr) == [] and len(server.files("ac")) >= len(CELLS)
        without = team(2, server.url)
        assert without.returncode == 0
        lines = remote_lines(without.stderr)
        assert len(lines) == 1 and "401" in lines[0] and "TOKEN_FILE" in lines[0], without.stderr
        assert without.report["counts"]["ran"] == len(CELLS)
    finally:
        server.stop()


def test_a_kernel_on_another_machine_restores_cells_from_the_team_cache(server, team, tmp_path):
    """The kernel uses the team cache like run-notebook: a kernel with its own empty cache serves a colleague's cells."""
    sys.path.insert(0, str(HERE.parent / "engine"))
    sys.path.insert(0, str(HERE.parent / "kernel"))
    from driver import KernelDriver
    from kernel_env import KernelEnv
    cells = [("a", "x <- 1:5\ncat('computed\\n')"), ("b", "y <- sum(x)\ny")]
    env = {"RIPPLE_REMOTE_CACHE": server.url, "RIPPLE_REMOTE_CACHE_KEY_FILE": str(team.key)}
    shown = []
    for n in (1, 2):
        with KernelEnv(["ripple"]) as kenv, \
                kenv.start("ripple", env={"RIPPLE_CACHE_DIR": str(tmp_path / f"kernel-cache{n}"), **env}) as (km, kc):
            nb = KernelDriver(kc, km, timeout=60)
            results = [nb.execute_cell(cid, code) for cid, code in cells]
            shown.append(dict(nb.shown))
            served = [r.reply["content"].get("ripple_from_cache", []) for r in results]
        if n == 1:
            assert served == [[], []]
        else:
            assert served == [["a"], ["b"]], served
    assert shown[0] == shown[1] and "computed" in str(shown[1]), shown
