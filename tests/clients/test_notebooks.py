"""test_notebooks.py: every notebook in examples/ runs under nbclient and `jupyter nbconvert --execute`: valid, expected outputs.
Must not know how ripple works inside: these clients send no cell ids, so this is ripple as a plain R kernel."""

import base64
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jupyter_home import PYTHON, REPO, jupyter_home  # noqa: E402

EXAMPLES = sorted((REPO / "examples").glob("*.ipynb"))
CELL_TIMEOUT = 120


def png_size(b64):
    data = base64.b64decode(b64)
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "image/png is not a PNG"
    return struct.unpack(">II", data[16:24])


def text_of(cell):
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif "data" in out:
            parts.append(out.data.get("text/plain", ""))
    return "".join(parts)


def has_png(cell):
    pngs = [out.data["image/png"] for out in cell.outputs if "data" in out and "image/png" in out.data]
    return bool(pngs) and all(w > 0 and h > 0 for w, h in map(png_size, pngs))


# What a reader of each example sees, by cell id (nbformat 4.5 ids).
EXPECTED = {
    "welcome.ipynb": {
        "welcome-2": lambda c: re.search(r"Min\. +1st Qu\. +Median +Mean", text_of(c)),
        "welcome-3": lambda c: "<table" in c.outputs[0].data.get("text/html", "") and re.search(r"^\s+i\s+x\s+y", text_of(c)),
        "welcome-4": lambda c: "(Intercept)" in text_of(c),
        "welcome-5": has_png,
        "welcome-6": lambda c: text_of(c) == "".join(f"step {i} \n" for i in range(1, 6)),
    },
    "htmlwidgets.ipynb": {
        "widgets-table": lambda c: 'class="datatables html-widget' in c.outputs[0].data.get("text/html", "")
        and "word-12" in c.outputs[0].data["text/html"] and text_of(c) == "<datatables htmlwidget>",
        "widgets-tag": lambda c: "<b>144</b>" in c.outputs[0].data.get("text/html", ""),
    },
    "ripple-tour.ipynb": {
        "tour-squares": lambda c: re.fullmatch(r"\[1\]\s+1\s+4\s+9\s+16\s+25\n?", text_of(c)),
        "tour-total": lambda c: text_of(c) == "sum of 5 squares plus bonus: 155 \n",
        "tour-odd": lambda c: re.fullmatch(r"\[1\]\s+1\s+9\s+25\n?", text_of(c)),
        "tour-plot": has_png,
    },
}


def check_executed(nb, name):
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cells"
    errors = [(c.get("id"), o.get("ename"), o.get("evalue")) for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name}: cells failed: {errors}"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), f"{name}: not run top to bottom once"
    by_id = {c.get("id"): c for c in code}
    for cell_id, check in EXPECTED.get(name, {}).items():
        assert cell_id in by_id, f"{name}: cell {cell_id} is gone (update EXPECTED)"
        assert check(by_id[cell_id]), f"{name} cell {cell_id} shows {text_of(by_id[cell_id])!r} {by_id[cell_id].outputs!r:.300}"


@pytest.fixture()
def home():
    with jupyter_home() as found:
        yield found


def test_the_examples_with_expected_outputs_are_there():
    assert set(EXPECTED) <= {p.name for p in EXAMPLES}, "an example listed in EXPECTED is gone from examples/"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_nbclient_runs_example(path, home, monkeypatch):
    env, dirs = home
    for key in ("HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_PATH", "IPYTHONDIR",
                "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(key, env[key])
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="ripple", timeout=CELL_TIMEOUT, startup_timeout=60,
                            resources={"metadata": {"path": str(dirs["work"])}})
    client.execute()
    assert client.nb.metadata.kernelspec.name == "ripple"
    check_executed(nb, path.name)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_nbconvert_executes_example(path, home):
    env, dirs = home
    out_dir = dirs["work"]
    cmd = [PYTHON, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
           "--ExecutePreprocessor.kernel_name=ripple", f"--ExecutePreprocessor.timeout={CELL_TIMEOUT}",
           "--output-dir", str(out_dir), "--output", path.stem + ".executed", str(path)]
    proc = subprocess.run(cmd, env=env, cwd=out_dir, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"nbconvert failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    written = out_dir / (path.stem + ".executed.ipynb")
    assert written.exists(), f"nbconvert wrote no {written.name}: {os.listdir(out_dir)}"
    check_executed(nbformat.read(written, as_version=4), path.name)
