"""jupyter_home.py: throw-away Jupyter homes for the Python client tests (ripple's kernelspec in a temp prefix), cleanup.
Must not know what the tests check; it knows only `ripple-kernel install --prefix` and Jupyter's environment variables."""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"  # Debian's Python: the one with Jupyter's packages


def build_dir() -> Path:
    path = Path(os.environ.get("RIPPLE_BUILD_DIR") or REPO / "build").resolve()
    if not (path / "bin" / "ripple-kernel").exists():
        raise RuntimeError(f"no kernel at {path}/bin/ripple-kernel: build first or set RIPPLE_BUILD_DIR")
    return path


def kernel_pids(runtime_dir: Path):
    """Kernels run in their own session; ours are the ones whose connection file is in our runtime dir."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if str(runtime_dir).encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            pass
    return pids


def stop_kernels(runtime_dir: Path, grace=5.0):
    pids = kernel_pids(runtime_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
            time.sleep(0.1)
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        if not pids:
            return


@contextlib.contextmanager
def jupyter_home():
    """Yields (env, root): an environment whose Jupyter finds only the ripple kernelspec of this build."""
    root = Path(tempfile.mkdtemp(prefix="ripple-clients-"))
    dirs = {name: root / name for name in ("home", "config", "data", "runtime", "prefix", "xdg-data", "xdg-cache", "work")}
    for path in dirs.values():
        path.mkdir()
    env = dict(os.environ)
    env.pop("JUPYTER_CONFIG_PATH", None)
    env.update({
        "HOME": str(dirs["home"]),
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_PATH": str(dirs["prefix"] / "share" / "jupyter"),
        "IPYTHONDIR": str(dirs["home"] / ".ipython"),
        "XDG_DATA_HOME": str(dirs["xdg-data"]),
        "XDG_CACHE_HOME": str(dirs["xdg-cache"]),
        "PYTHONNOUSERSITE": "1",
    })
    try:
        subprocess.run([str(build_dir() / "bin" / "ripple-kernel"), "install", "--prefix", str(dirs["prefix"])],
                       env=env, check=True, capture_output=True, timeout=60)
        yield env, dirs
    finally:
        stop_kernels(dirs["runtime"])
        if not os.environ.get("RIPPLE_KEEP_TEMP"):
            shutil.rmtree(root, ignore_errors=True)
