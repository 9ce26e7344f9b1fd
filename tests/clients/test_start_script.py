"""test_start_script.py: the README's first command, `bash scripts/start.sh`, run as CI runs it (often root).
Must not know how start.sh works inside: it sees only the script, a free port and Notebook's REST API."""

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from jupyter_home import REPO, build_dir, jupyter_home, stop_kernels


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def werror_of_build(build: Path) -> str:
    """start.sh runs build.sh; keep the build's -Werror setting so the build tree is not reconfigured."""
    for line in (build / "CMakeCache.txt").read_text().splitlines():
        if line.startswith("RIPPLE_WERROR:"):
            return line.split("=", 1)[1]
    return "OFF"


def get_json(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_start_script_serves_the_examples():
    build = build_dir()
    if build != (REPO / "build").resolve():
        import pytest

        pytest.skip("start.sh builds into the repository's build/; this build directory is elsewhere")
    port, token = free_port(), secrets.token_hex(16)
    with jupyter_home() as (env, dirs):
        env.update({
            "RIPPLE_PORT": str(port),
            "RIPPLE_NOTEBOOK_ARGS": f"--NotebookApp.token={token}",
            "RIPPLE_WERROR": werror_of_build(build),
        })
        env.pop("CI", None)  # build.sh reads CI=true as -Werror; RIPPLE_WERROR above already says what the build has
        log_path = dirs["work"] / "start.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen(["bash", str(REPO / "scripts" / "start.sh")], env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 240
            welcome = None
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    welcome = get_json(f"http://127.0.0.1:{port}/api/contents/welcome.ipynb", token)
                    break
                except (urllib.error.URLError, ConnectionError, OSError):
                    time.sleep(0.5)
            log_text = log_path.read_text(errors="replace")
            assert welcome is not None, f"start.sh never served the examples (exit {server.poll()}):\n{log_text}"
            assert welcome["type"] == "notebook" and welcome["content"]["cells"], welcome
            kernels = get_json(f"http://127.0.0.1:{port}/api/kernelspecs", token)["kernelspecs"]
            assert "ripple" in kernels, sorted(kernels)
            if os.geteuid() == 0:
                assert "Running as root: passing --allow-root" in log_text, log_text
        finally:
            # The server and anything it started die with the session group; never leave a server behind.
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(server.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    server.wait(timeout=10)
                    break
                except subprocess.TimeoutExpired:
                    continue
            stop_kernels(dirs["runtime"])
        assert server.poll() is not None
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, "the Notebook server still answers after the test"
