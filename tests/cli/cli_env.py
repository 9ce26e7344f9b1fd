"""Shared helpers for run-notebook's end-to-end tests (tests/cli/test_*.py) and bench/cli_bench.py.

RIPPLE_BUILD_DIR selects the build tree (default: <repo>/build); the binary is bin/run-notebook.
Run with Debian's /usr/bin/python3 (nbformat, nbclient, jupyter_client, pytest).
"""

import json
import os
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def build_dir() -> Path:
    env = os.environ.get("RIPPLE_BUILD_DIR")
    return Path(env).resolve() if env else REPO_ROOT / "build"


def run_notebook_binary() -> Path:
    exe = build_dir() / "bin" / "run-notebook"
    if not exe.exists():
        raise FileNotFoundError(f"{exe} does not exist: build ripple first (scripts/build.sh)")
    return exe


def run(args, cwd=None, timeout=120, env=None, check_rc=None):
    """Run build/bin/run-notebook ARGS; returns CompletedProcess (text). check_rc asserts the exit code."""
    full_env = dict(os.environ)
    full_env.setdefault("LC_ALL", "C.UTF-8")
    if env:
        full_env.update(env)
    proc = subprocess.run([str(run_notebook_binary())] + [str(a) for a in args], cwd=cwd, env=full_env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check_rc is not None:
        assert proc.returncode == check_rc, \
            f"run-notebook {args} exited {proc.returncode}, expected {check_rc}\nstderr:\n{proc.stderr}"
    return proc


def code_cell(source, tags=None, cell_id=None):
    import nbformat.v4 as v4
    cell = v4.new_code_cell(source, metadata={"tags": tags} if tags else {})
    if cell_id:
        cell["id"] = cell_id
    return cell


def write_notebook(path, cells, kernelspec=True):
    """Writes an nbformat 4.5 notebook with these cells (code strings or cells) and returns its path."""
    import nbformat
    import nbformat.v4 as v4
    nb = v4.new_notebook()
    if kernelspec:
        nb.metadata["kernelspec"] = {"name": "ripple", "display_name": "R (ripple)", "language": "R"}
    nb.cells = [code_cell(c) if isinstance(c, str) else c for c in cells]
    nbformat.write(nb, str(path))
    return Path(path)


def read_notebook(path):
    import nbformat
    return nbformat.read(str(path), as_version=4)


def validate(path):
    """nbformat's own validator (Debian's python3-nbformat); raises on an invalid notebook."""
    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    return nb


def text_of(output):
    """The text a user reads in one output: stream text, text/plain, or the error line."""
    if output["output_type"] == "stream":
        return output["text"]
    if output["output_type"] == "error":
        return f"{output['ename']}: {output['evalue']}"
    return output.get("data", {}).get("text/plain", "")


def normalized_outputs(cell):
    """A cell's outputs in a comparable form: consecutive stream text of one stream merged, timing dropped."""
    out = []
    for o in cell.get("outputs", []):
        o = json.loads(json.dumps(o))
        if o["output_type"] == "stream" and out and out[-1]["output_type"] == "stream" and out[-1]["name"] == o["name"]:
            out[-1]["text"] += o["text"]
            continue
        out.append(o)
    return out


def wait_for(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
