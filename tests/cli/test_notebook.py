"""run-notebook IN.ipynb end to end: outputs, nbformat validity, nbclient re-run parity, parameters, tags, errors,
timeouts, working directory, live log, reports, progress, exit codes, atomic writes, signals, parallel runs; the
persistent cache (warm runs, --force, --no-cache, one edit, parallel runs sharing it, why, cache stats|gc|clear).
Every test has its own cache directory (conftest.py).

Run: RIPPLE_BUILD_DIR=build /usr/bin/python3 -m pytest -q tests/cli/test_notebook.py
"""

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernel"))

from cli_env import (REPO_ROOT, build_dir, code_cell, normalized_outputs, read_notebook, run,  # noqa: E402
                     run_notebook_binary, text_of, validate, wait_for, write_notebook)


RICH_CELLS = [
    "x <- 1:3",
    "x * 2",
    'cat("hi\\n"); message("note"); 40 + 2',
    "plot(x)",
    "head(mtcars, 2)",
    "print(summary(x))\ninvisible(7)",
]


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_runs_every_cell_in_order_and_writes_a_valid_notebook(tmp_path):
    import nbformat.v4 as v4
    nb_path = write_notebook(tmp_path / "nb.ipynb", [v4.new_markdown_cell("# Title")] + RICH_CELLS)
    before = nb_path.read_bytes()
    proc = run([nb_path, "-o", tmp_path / "out.ipynb"], check_rc=0)
    assert nb_path.read_bytes() == before, "with -o the input must not change"
    nb = validate(tmp_path / "out.ipynb")
    assert nb.nbformat == 4 and nb.nbformat_minor >= 5
    cells = code_cells(nb)
    assert [c.execution_count for c in cells] == [1, 2, 3, 4, 5, 6]
    assert cells[0].outputs == []
    assert cells[1].outputs[0].output_type == "execute_result"
    assert cells[1].outputs[0].data["text/plain"] == "[1] 2 4 6"
    assert cells[1].outputs[0].execution_count == 2
    kinds = [(o.output_type, o.get("name")) for o in cells[2].outputs]
    assert kinds == [("stream", "stdout"), ("stream", "stderr"), ("execute_result", None)]
    assert cells[2].outputs[0].text == "hi\n" and "note" in cells[2].outputs[1].text
    assert cells[3].outputs[0].output_type == "display_data" and "image/png" in cells[3].outputs[0].data
    assert "text/html" in cells[4].outputs[0].data and "Mazda RX4" in cells[4].outputs[0].data["text/plain"]
    assert [o.output_type for o in cells[5].outputs] == ["stream"]  # print() output; invisible() shows nothing
    for cell in cells:
        timing = cell.metadata["execution"]
        assert timing["iopub.execute_input"].endswith("Z") and timing["shell.execute_reply"] >= timing["iopub.execute_input"]
        assert cell.metadata["ripple"]["from_cache"] is False
    assert nb.metadata.language_info.name == "R"
    assert "[6/6]" in proc.stderr and "run" in proc.stderr


def test_in_place_update_adds_missing_ids_to_an_old_notebook(tmp_path):
    old = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                      "source": ["y <- 21\n", "y * 2"]},
                     {"cell_type": "markdown", "metadata": {}, "source": "done"}],
           "metadata": {}, "nbformat": 4, "nbformat_minor": 4}
    nb_path = tmp_path / "old.ipynb"
    nb_path.write_text(json.dumps(old))
    proc = run([nb_path], check_rc=0)
    nb = validate(nb_path)
    assert nb.nbformat_minor == 5
    assert all(isinstance(c.get("id"), str) and c["id"] for c in nb.cells)
    assert nb.cells[0].outputs[0].data["text/plain"] == "[1] 42"
    assert "upgraded from nbformat 4.4 to 4.5" in proc.stderr
    assert nb.metadata.kernelspec.name == "ripple"


def test_written_notebook_reruns_in_nbclient_with_identical_outputs(tmp_path):
    """The written notebook opens in nbclient and, run there by the ripple kernel, shows the same outputs."""
    from nbclient import NotebookClient
    from kernel_env import KernelEnv
    kernel = build_dir() / "bin" / "ripple-kernel"
    assert kernel.exists(), f"{kernel} is needed for this test: build ripple (scripts/build.sh)"
    cells = RICH_CELLS + ["stop('expected failure')", "cat('after the error\\n')"]
    nb_path = write_notebook(tmp_path / "nb.ipynb", cells)
    run([nb_path, "--allow-errors", "-o", tmp_path / "ours.ipynb"], check_rc=0)
    ours = validate(tmp_path / "ours.ipynb")
    theirs = read_notebook(tmp_path / "ours.ipynb")
    with KernelEnv(["ripple"]):
        client = NotebookClient(theirs, kernel_name="ripple", timeout=60, allow_errors=True,
                                resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
    for mine, nbclients in zip(code_cells(ours), code_cells(theirs)):
        assert mine.execution_count == nbclients.execution_count
        a, b = normalized_outputs(mine), normalized_outputs(nbclients)
        assert [o["output_type"] for o in a] == [o["output_type"] for o in b], mine.source
        for x, y in zip(a, b):
            x.pop("metadata", None), y.pop("metadata", None)
            if x["output_type"] == "error":
                x.pop("traceback"), y.pop("traceback")
            assert x == y, f"cell {mine.source!r}: run-notebook {x} vs nbclient {y}"


def test_parameters_go_after_the_parameters_cell_and_a_rerun_replaces_them(tmp_path):
    nb_path = tmp_path / "params.ipynb"
    shutil.copy(REPO_ROOT / "examples" / "parameters.ipynb", nb_path)
    out = tmp_path / "out.ipynb"
    run([nb_path, "-o", out, "-p", "n", "500", "-p", "label", '"big"'], check_rc=0)
    nb = validate(out)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    at = tags.index(["parameters"])
    assert tags[at + 1] == ["injected-parameters"]
    assert nb.cells[at + 1].source == '# Parameters\nn <- 500\nlabel <- "big"\n'
    sample = text_of(nb.cells[at + 2].outputs[0])
    assert sample.startswith("big sample: n = 500"), sample
    run([out, "-p", "n", "5"], check_rc=0)  # in place, again: replaced, not added
    nb = validate(out)
    assert sum("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    assert text_of(nb.cells[at + 2].outputs[0]).startswith("small sample: n = 5")


def test_parameters_without_a_parameters_cell_come_first(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", ["cat(greeting)"])
    proc = run([nb_path, "-p", "greeting", "'hello'"], check_rc=0)
    nb = validate(nb_path)
    assert nb.cells[0].metadata.tags == ["injected-parameters"]
    assert nb.cells[1].outputs[0].text == "hello"
    assert 'no cell tagged "parameters"' in proc.stderr


def test_bad_parameters_are_usage_errors(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", ["1"])
    before = nb_path.read_bytes()
    proc = run([nb_path, "-p", "n", "c(1,"], check_rc=2)
    assert "-p n: c(1, is not R code" in proc.stderr
    proc = run([nb_path, "-p", "2n", "1"], check_rc=2)
    assert "not an R variable name" in proc.stderr
    assert nb_path.read_bytes() == before


def test_a_failing_cell_stops_the_run_with_exit_1_and_writes_outputs_up_to_it(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", [
        code_cell("a <- 1\na", cell_id="first"),
        code_cell("f <- function() stop('boom')\nf()", cell_id="failing"),
        code_cell("b <- 2\nb", cell_id="never")])
    proc = run([nb_path, "-o", tmp_path / "out.ipynb"], check_rc=1)
    assert "cell 2 (id failing) failed" in proc.stderr
    assert "stop('boom')" in proc.stderr and "Error in f() : boom" in proc.stderr and "1. f()" in proc.stderr
    nb = validate(tmp_path / "out.ipynb")
    first, failing, never = code_cells(nb)
    assert first.execution_count == 1 and first.outputs[0].data["text/plain"] == "[1] 1"
    assert failing.outputs[-1].output_type == "error" and failing.outputs[-1].evalue == "boom"
    assert never.execution_count is None and never.outputs == []


def test_allow_errors_and_the_raises_exception_tag_keep_going(tmp_path):
    cells = ["stop('first')", "cat('still here\\n')"]
    nb_path = write_notebook(tmp_path / "nb.ipynb", cells)
    run([nb_path, "--allow-errors", "-o", tmp_path / "out.ipynb"], check_rc=0)
    nb = validate(tmp_path / "out.ipynb")
    assert code_cells(nb)[1].outputs[0].text == "still here\n"

    tagged = write_notebook(tmp_path / "tagged.ipynb", [code_cell("stop('expected')", tags=["raises-exception"]),
                                                         "cat('ran\\n')", "stop('unexpected')"])
    proc = run([tagged], check_rc=1)
    nb = validate(tagged)
    assert code_cells(nb)[1].outputs[0].text == "ran\n"
    assert "unexpected" in proc.stderr and "cell 3" in proc.stderr


def test_skip_execution_and_empty_cells_are_left_as_they_are(tmp_path):
    import nbformat.v4 as v4
    skipped = code_cell("stop('must not run')", tags=["skip-execution"])
    skipped.outputs = [v4.new_output("stream", name="stdout", text="kept from before\n")]
    nb_path = write_notebook(tmp_path / "nb.ipynb", [skipped, "   ", "cat('ran\\n')"])
    run([nb_path, "--report", "json", tmp_path / "r.json"], check_rc=0)
    nb = validate(nb_path)
    cells = code_cells(nb)
    assert cells[0].outputs[0].text == "kept from before\n" and cells[0].execution_count is None
    assert cells[1].execution_count is None
    assert cells[2].execution_count == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert [c["status"] for c in report["cells"]] == ["skipped", "skipped", "ok"]


def test_timeout_interrupts_the_cell_and_exits_3(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", ["cat('before\\n')", "while (TRUE) {}", "cat('after\\n')"])
    started = time.monotonic()
    proc = run([nb_path, "--timeout", "1", "-o", tmp_path / "out.ipynb"], check_rc=3, timeout=60)
    assert time.monotonic() - started < 30
    assert "cell 2" in proc.stderr and "--timeout" in proc.stderr
    nb = validate(tmp_path / "out.ipynb")
    cells = code_cells(nb)
    assert cells[0].outputs[0].text == "before\n"
    assert cells[1].outputs[-1].ename == "TimeoutError"
    assert cells[2].outputs == [] and cells[2].execution_count is None


def test_working_directory_is_the_notebooks_unless_cwd_says_otherwise(tmp_path):
    (tmp_path / "nbdir").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "nbdir" / "data.txt").write_text("from the notebook's folder\n")
    nb_path = write_notebook(tmp_path / "nbdir" / "nb.ipynb", ["cat(basename(getwd()))",
                                                              "if (file.exists('data.txt')) cat(readLines('data.txt'))"])
    run([nb_path, "-o", tmp_path / "a.ipynb"], cwd=tmp_path, check_rc=0)
    cells = code_cells(validate(tmp_path / "a.ipynb"))
    assert cells[0].outputs[0].text == "nbdir"
    assert cells[1].outputs[0].text == "from the notebook's folder"
    run([nb_path, "-o", tmp_path / "b.ipynb", "--cwd", tmp_path / "other"], check_rc=0)
    assert code_cells(validate(tmp_path / "b.ipynb"))[0].outputs[0].text == "other"
    proc = run([nb_path, "--cwd", tmp_path / "missing"], check_rc=2)
    assert "--cwd" in proc.stderr and "is not a directory" in proc.stderr


def test_log_output_streams_cell_output_to_stderr_while_it_runs(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", ["cat('first line\\n'); Sys.sleep(3); cat('second line\\n')"])
    proc = subprocess.Popen([str(run_notebook_binary()), str(nb_path), "--log-output"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        os.set_blocking(proc.stderr.fileno(), False)
        seen = b""

        def first_seen():
            nonlocal seen
            chunk = proc.stderr.read()
            if chunk:
                seen += chunk
            return b"first line\n" in seen
        assert wait_for(first_seen, 20), seen
        assert proc.poll() is None, "the first line must arrive while the cell is still running"
        assert b"second line\n" not in seen
        proc.wait(timeout=60)
        rest = proc.stderr.read() or b""
        assert b"second line\n" in seen + rest
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    quiet = run([nb_path], check_rc=0)
    assert "first line\n" not in quiet.stderr


def test_reports_json_and_junit(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", [
        code_cell("x <- 1", cell_id="ok-cell"),
        code_cell("stop('<broken> & bad')", cell_id="bad-cell", tags=["raises-exception"]),
        code_cell("1", cell_id="skip-cell", tags=["skip-execution"])])
    run([nb_path, "--report", "json", tmp_path / "r.json", "--report", "junit", tmp_path / "r.xml"], check_rc=0)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exit_code"] == 0 and report["kind"] == "notebook"
    assert [(c["id"], c["status"]) for c in report["cells"]] == [("ok-cell", "ok"), ("bad-cell", "error"),
                                                                  ("skip-cell", "skipped")]
    assert report["cells"][1]["error"]["evalue"] == "<broken> & bad"
    assert report["cache"]["available"] is True
    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert suite.tag == "testsuites" and suite.get("tests") == "3" and suite.get("failures") == "1"
    cases = suite.findall("./testsuite/testcase")
    assert len(cases) == 3
    assert cases[1].find("failure").get("message") == "<broken> & bad"
    assert cases[2].find("skipped") is not None

    failing = write_notebook(tmp_path / "f.ipynb", ["stop('x')"])
    run([failing, "--report", "json", tmp_path / "f.json"], check_rc=1)
    assert json.loads((tmp_path / "f.json").read_text())["status"] == "cell-failed"


def test_plain_log_lines_in_ci_quiet_silences_them(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", ["a <- 1", "b <- 2"])
    proc = run([nb_path], check_rc=0)
    lines = [l for l in proc.stderr.splitlines() if l.startswith("[")]
    assert lines == ["[1/2] a <- 1  ok  " + lines[0].split("  ok  ")[1], "[2/2] b <- 2  ok  " + lines[1].split("  ok  ")[1]]
    assert all(l.endswith("run") for l in lines)
    assert "\r" not in proc.stderr
    quiet = run([nb_path, "--quiet"], check_rc=0)
    assert quiet.stderr == ""


def test_a_terminal_gets_a_live_progress_line(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", ["Sys.sleep(1)", "a <- 1"])
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(run_notebook_binary()), str(nb_path)], stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    break
                if not data:
                    break
                seen += data
            elif proc.poll() is not None:
                break
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == 0
    assert b"\r\x1b[K[1/2] Sys.sleep(1)" in seen and b"running" in seen  # redrawn while the cell runs
    assert b"[2/2] a <- 1" in seen


@pytest.mark.parametrize("content, expected", [
    (None, "does not exist"),
    ('{"cells": [', "is not valid JSON (line 1"),
    ('{"hello": 1}', "not a Jupyter notebook"),
    ('{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", '
     '"language": "python", "display_name": "Python"}}}', "python notebook"),
])
def test_bad_input_exits_2_with_one_sentence(tmp_path, content, expected):
    nb_path = tmp_path / "bad.ipynb"
    if content is not None:
        nb_path.write_text(content)
    proc = run([nb_path], check_rc=2)
    assert expected in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    if content is not None:
        assert nb_path.read_text() == content


@pytest.mark.parametrize("args, expected", [
    (["nb.ipynb", "--frobnicate"], "unknown option --frobnicate"),
    (["notes.txt"], "neither a notebook"),
    (["nb.ipynb", "--timeout", "soon"], "positive number"),
    (["nb.ipynb", "-o", "missing-dir/out.ipynb"], "does not exist"),
    ([], "give a notebook"),
])
def test_usage_errors_exit_2(tmp_path, args, expected):
    write_notebook(tmp_path / "nb.ipynb", ["1"])
    proc = run(args, cwd=tmp_path, check_rc=2)
    assert expected in proc.stderr


def test_r_that_cannot_start_or_crashes_exits_4(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", ["1"])
    proc = run([nb_path], env={"RIPPLE_R_LIBRARY": str(tmp_path / "no-library")}, check_rc=4)
    assert "R could not start" in proc.stderr
    crash = write_notebook(tmp_path / "crash.ipynb", ["x <- 1", "tools::pskill(Sys.getpid(), 11L); Sys.sleep(5)"])
    before = crash.read_bytes()
    proc = run([crash], check_rc=4)
    assert "internal error" in proc.stderr and "nothing was written" in proc.stderr
    assert crash.read_bytes() == before


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_killed_mid_run_leaves_the_input_intact(tmp_path, how):
    nb_path = write_notebook(tmp_path / "nb.ipynb", ["cat('one\\n')", "Sys.sleep(60)", "cat('three\\n')"])
    before = nb_path.read_bytes()
    proc = subprocess.Popen([str(run_notebook_binary()), str(nb_path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        os.set_blocking(proc.stderr.fileno(), False)
        seen = b""

        def first_cell_done():
            nonlocal seen
            seen += proc.stderr.read() or b""
            return b"[1/3]" in seen
        assert wait_for(first_cell_done, 30), seen
        time.sleep(0.3)  # inside Sys.sleep(60)
        proc.send_signal(how)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == (-signal.SIGKILL if how == signal.SIGKILL else 128 + signal.SIGTERM)
    assert nb_path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb"], "no temp file left behind"


def test_cache_options_are_accepted_and_reported(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", ["1 + 1"])
    run([nb_path, "--force", "--no-cache", "--cache-dir", tmp_path / "c", "--report", "json", tmp_path / "r.json"],
        check_rc=0)
    cache = json.loads((tmp_path / "r.json").read_text())["cache"]
    assert cache == {"enabled": False, "force": True, "dir": str(tmp_path / "c"), "available": False}
    env_run = run([nb_path, "--report", "json", tmp_path / "e.json"], env={"RIPPLE_CACHE_DIR": str(tmp_path / "env")},
                  check_rc=0)
    assert env_run.returncode == 0
    assert json.loads((tmp_path / "e.json").read_text())["cache"]["dir"] == str(tmp_path / "env")


def test_r_ends_like_r_finalizers_devices_and_its_session_folder(tmp_path):
    # At exit: finalizers registered with onexit = TRUE run, an open png() device writes its file, and R's session
    # folder (tempdir()) is removed.
    png, marker = tmp_path / "left-open.png", tmp_path / "finalized.txt"
    nb = write_notebook(tmp_path / "nb.ipynb", [
        f'png("{png}"); plot(1:3)',
        f'e <- new.env(); reg.finalizer(e, function(x) writeLines("done", "{marker}"), onexit = TRUE); invisible()',
        'cat(tempdir()); writeLines("x", file.path(tempdir(), "inside.txt"))',
    ])
    run([nb, "-o", tmp_path / "out.ipynb", "--no-cache"], check_rc=0)
    outputs = [normalized_outputs(c) for c in read_notebook(tmp_path / "out.ipynb").cells if c.cell_type == "code"]
    session_folder = Path(outputs[2][0]["text"])
    assert session_folder.name.startswith("Rtmp")
    assert not session_folder.exists()
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert marker.read_text() == "done\n"


def test_help_and_version():
    proc = run(["--help"], check_rc=0)
    assert "--allow-errors" in proc.stdout and "exit codes: 0 ok, 1 a cell failed" in proc.stdout
    assert run(["--version"], check_rc=0).stdout.startswith("run-notebook ")


def test_examples_run(tmp_path):
    for name in ("welcome.ipynb", "parameters.ipynb"):
        shutil.copy(REPO_ROOT / "examples" / name, tmp_path / name)
        run([tmp_path / name, "-o", tmp_path / ("out-" + name)], check_rc=0)
        validate(tmp_path / ("out-" + name))


# --- the persistent cache --------------------------------------------------------------------------------------------

def marked(code, name):
    """Cell code that also appends `name` to marker.txt (next to the notebook) each time it really runs."""
    return f"{code}\ncat('{name}\\n', file = 'marker.txt', append = TRUE)"


def markers(tmp_path):
    path = tmp_path / "marker.txt"
    return path.read_text().split() if path.exists() else []


def report_of(path):
    report = json.loads(Path(path).read_text())
    return report, [c["from_cache"] for c in report["cells"]]


CACHED_CELLS = [
    code_cell(marked("x <- 1:3", "x"), cell_id="make-x"),
    code_cell("x * 2", cell_id="double"),
    code_cell('cat("hi\\n"); message("note"); 40 + 2', cell_id="streams"),
    code_cell("plot(x)", cell_id="plot"),
    code_cell(marked("set.seed(4); y <- round(rnorm(3), 4)", "y"), cell_id="random"),
    code_cell("print(summary(x + y))\ninvisible(7)", cell_id="summary"),
]


def test_a_warm_run_is_served_from_the_cache_with_identical_outputs(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", CACHED_CELLS)
    cache = tmp_path / "cache"
    run([nb_path, "-o", tmp_path / "cold.ipynb", "--cache-dir", cache, "--report", "json", tmp_path / "cold.json"],
        check_rc=0)
    assert markers(tmp_path) == ["x", "y"]
    warm = run([nb_path, "-o", tmp_path / "warm.ipynb", "--cache-dir", cache, "--report", "json", tmp_path / "warm.json"],
               check_rc=0)
    assert markers(tmp_path) == ["x", "y"], "a cell served from the cache must not run again"
    cold_report, cold_cached = report_of(tmp_path / "cold.json")
    warm_report, warm_cached = report_of(tmp_path / "warm.json")
    assert cold_cached == [False] * 6 and warm_cached == [True] * 6
    assert cold_report["cache"]["available"] and warm_report["counts"]["from_cache"] == 6
    cold, hot = code_cells(validate(tmp_path / "cold.ipynb")), code_cells(validate(tmp_path / "warm.ipynb"))
    assert [normalized_outputs(c) for c in hot] == [normalized_outputs(c) for c in cold]
    assert any("image/png" in o.get("data", {}) for o in hot[3].outputs)
    assert [c.execution_count for c in hot] == [1, 2, 3, 4, 5, 6]
    assert all(c.metadata["ripple"]["from_cache"] is True for c in hot)
    assert all(c.metadata["execution"]["shell.execute_reply"] for c in hot)
    lines = [l for l in warm.stderr.splitlines() if l.startswith("[")]
    assert len(lines) == 6 and all(l.endswith("  cached") for l in lines), warm.stderr
    assert "(0 run, 6 from the cache, R not started)" in warm.stderr


def test_widgets_and_tags_are_written_as_html_and_a_warm_run_replays_them(tmp_path):
    """htmlwidgets and htmltools objects go into the notebook as text/html with their dependencies inlined; printing
    one opens no browser (options(browser=) would write the marker); the cache replays the same HTML."""
    # DT loads in the setup cell: the cell that first loads it also defines the options() its dependency cli sets,
    # and such a cell is not served from the cache (an engine limitation, see test_cache_kernel.py).
    cells = [code_cell("options(browser = function(url, ...) cat(url, file = 'opened.txt'))\nlibrary(DT)",
                       cell_id="no-browser"),
             code_cell(marked('datatable(head(iris))', "dt"), cell_id="dt"),
             code_cell('print(DT::datatable(head(cars)))\nhtmltools::tags$b("bold")', cell_id="print"),
             code_cell('htmltools::HTML("<i>x</i>")', cell_id="html")]
    nb_path = write_notebook(tmp_path / "nb.ipynb", cells)
    cache = tmp_path / "cache"
    run([nb_path, "-o", tmp_path / "cold.ipynb", "--cache-dir", cache], check_rc=0)
    run([nb_path, "-o", tmp_path / "warm.ipynb", "--cache-dir", cache, "--report", "json", tmp_path / "warm.json"],
        check_rc=0)
    assert not (tmp_path / "opened.txt").exists(), "run-notebook opened a browser"
    assert markers(tmp_path) == ["dt"], "the widget cell ran again instead of being served from the cache"
    assert report_of(tmp_path / "warm.json")[1] == [True] * 4
    cold, warm = code_cells(validate(tmp_path / "cold.ipynb")), code_cells(validate(tmp_path / "warm.ipynb"))
    assert [normalized_outputs(c) for c in warm] == [normalized_outputs(c) for c in cold]
    dt = cold[1].outputs[-1]
    assert dt.output_type == "display_data" and dt.data["text/plain"] == "<datatables htmlwidget>"  # not the last value
    assert 'class="datatables html-widget' in dt.data["text/html"] and "setosa" in dt.data["text/html"]
    assert '<script title="jquery">' in dt.data["text/html"]
    assert dt.metadata["text/html"]["isolated"] is True
    assert [o.metadata for o in warm[1].outputs] == [o.metadata for o in cold[1].outputs]
    kinds = [(o.output_type, sorted(o.get("data", {}))) for o in cold[2].outputs]
    assert kinds == [("display_data", ["text/html", "text/plain"]), ("execute_result", ["text/html", "text/plain"])]
    assert cold[2].outputs[1].data["text/html"].count("<b>bold</b>") == 1
    assert "<i>x</i>" in cold[3].outputs[0].data["text/html"]


def test_a_cell_showing_the_first_data_frame_is_served_from_the_cache(tmp_path):
    """Showing the first data frame loads repr, whose options() are not the cell's doing."""
    nb_path = write_notebook(tmp_path / "nb.ipynb", ["head(mtcars, 2)", "getOption('digits')"])
    run([nb_path, "-o", tmp_path / "cold.ipynb", "--report", "json", tmp_path / "cold.json"], check_rc=0)
    run([nb_path, "-o", tmp_path / "warm.ipynb", "--report", "json", tmp_path / "warm.json"], check_rc=0)
    assert report_of(tmp_path / "warm.json")[1] == [True, True]
    cold, warm = code_cells(validate(tmp_path / "cold.ipynb")), code_cells(validate(tmp_path / "warm.ipynb"))
    assert "text/html" in warm[0].outputs[0].data
    assert [normalized_outputs(c) for c in warm] == [normalized_outputs(c) for c in cold]


def test_force_runs_every_cell_and_no_cache_leaves_the_cache_alone(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", CACHED_CELLS[:2] + CACHED_CELLS[4:5])
    cache = tmp_path / "cache"
    run([nb_path, "-o", tmp_path / "out.ipynb", "--cache-dir", cache], check_rc=0)
    forced = run([nb_path, "-o", tmp_path / "out.ipynb", "--cache-dir", cache, "--force", "--report", "json",
                  tmp_path / "force.json"], check_rc=0)
    assert markers(tmp_path) == ["x", "y", "x", "y"]
    assert report_of(tmp_path / "force.json")[1] == [False] * 3
    assert "cached" not in forced.stderr
    stats = run(["cache", "stats", "--cache-dir", cache], check_rc=0).stdout
    assert "entries: 3 cell executions" in stats, stats  # --force wrote the same entries again, no more
    run([nb_path, "-o", tmp_path / "out.ipynb", "--cache-dir", cache, "--no-cache", "--report", "json",
         tmp_path / "off.json"], check_rc=0)
    assert markers(tmp_path) == ["x", "y", "x", "y", "x", "y"]
    report, cached = report_of(tmp_path / "off.json")
    assert cached == [False] * 3 and report["cache"]["available"] is False
    run([nb_path, "-o", tmp_path / "out.ipynb", "--no-cache", "--cache-dir", tmp_path / "never"], check_rc=0)
    assert not (tmp_path / "never").exists(), "--no-cache must not create a cache"
    run([nb_path, "-o", tmp_path / "out.ipynb", "--cache-dir", cache, "--report", "json", tmp_path / "warm.json"],
        check_rc=0)
    assert report_of(tmp_path / "warm.json")[1] == [True] * 3
    assert markers(tmp_path) == ["x", "y"] * 4, "the warm run ran nothing"


EDIT_CELLS = [
    code_cell("n <- 5", cell_id="set-n"),
    code_cell(marked("x <- seq_len(n)", "x"), cell_id="make-x"),
    code_cell(marked("z <- 10", "z"), cell_id="make-z"),
    code_cell(marked("sum(x) + z", "total"), cell_id="total"),
]


def test_after_one_edit_only_the_stale_cells_run_and_why_says_why(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", EDIT_CELLS)
    cache = tmp_path / "cache"
    never = run(["why", nb_path, "--cache-dir", cache], check_rc=0).stdout.splitlines()
    assert len(never) == 4 and all(": would rerun: " in l for l in never), never
    assert never[0] == "set-n [n <- 5]: would rerun: it has not run with this cache"
    run([nb_path, "--cache-dir", cache], check_rc=0)
    assert markers(tmp_path) == ["x", "z", "total"]
    assert run(["why", nb_path, "--cache-dir", cache], check_rc=0).stdout.splitlines() == [
        "set-n [n <- 5]: cached", "make-x [x <- seq_len(n)]: cached", "make-z [z <- 10]: cached",
        "total [sum(x) + z]: cached"]

    nb = read_notebook(nb_path)
    nb.cells[0].source = "n <- 6"
    import nbformat
    nbformat.write(nb, str(nb_path))
    lines = run(["why", nb_path, "--cache-dir", cache], check_rc=0).stdout.splitlines()
    assert lines[0] == "set-n [n <- 6]: would rerun: code changed"
    assert lines[1].startswith("make-x [x <- seq_len(n)]: would rerun: ") and "`n`" in lines[1]
    assert lines[2] == "make-z [z <- 10]: cached"
    assert lines[3].startswith("total [sum(x) + z]: would rerun: ") and "`x`" in lines[3]
    assert markers(tmp_path) == ["x", "z", "total"], "why runs nothing"
    one = run(["why", nb_path, "make-z", "--cache-dir", cache], check_rc=0).stdout
    assert one == "make-z [z <- 10]: cached\n"
    assert run(["why", nb_path, "1", "--cache-dir", cache], check_rc=0).stdout.startswith("set-n [n <- 6]: would rerun")

    run([nb_path, "--cache-dir", cache, "--report", "json", tmp_path / "edit.json"], check_rc=0)
    assert markers(tmp_path) == ["x", "z", "total", "x", "total"]
    assert report_of(tmp_path / "edit.json")[1] == [False, False, True, False]
    assert all(l.endswith(": cached") for l in run(["why", nb_path, "--cache-dir", cache], check_rc=0).stdout.splitlines())


def test_why_says_why_a_cell_cannot_be_cached(tmp_path):
    cache = tmp_path / "cache"
    nb_path = write_notebook(tmp_path / "nb.ipynb", [
        code_cell("x <- 1", cell_id="set-x"),
        code_cell("format(Sys.time(), '%Y') > '2000'", cell_id="clock"),
        code_cell("options(digits = 4)", cell_id="digits"),
        code_cell("#| cache: false\nx + 1", cell_id="opted-out"),
    ])
    run([nb_path, "--cache-dir", cache], check_rc=0)
    lines = run(["why", nb_path, "--cache-dir", cache], check_rc=0).stdout.splitlines()
    assert lines[0] == "set-x [x <- 1]: cached"
    assert lines[1].startswith("clock [format(Sys.time(), '%Y') > '2000']: would rerun: it is volatile: it reads what "
                               "changes between runs"), lines
    assert lines[2] == "digits [options(digits = 4)]: would rerun: it changes options()"
    assert lines[3] == "opted-out [x + 1]: would rerun: it opts out of the cache (cache: false)"


def test_why_refuses_what_it_cannot_explain(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", EDIT_CELLS[:1])
    proc = run(["why", nb_path, "no-such-cell"], check_rc=2)
    assert "has no code cell with id (or number) no-such-cell" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "--no-cache leaves nothing to compare" in run(["why", nb_path, "--no-cache"], check_rc=2).stderr
    assert "does not exist" in run(["why", tmp_path / "missing.ipynb"], check_rc=2).stderr
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("not a cache")
    proc = run(["why", nb_path, "--cache-dir", not_a_dir], check_rc=2)
    assert "cannot be opened" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_an_unusable_cache_directory_is_a_warning_and_a_run_without_it(tmp_path):
    nb_path = write_notebook(tmp_path / "nb.ipynb", CACHED_CELLS[:2])
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("not a cache")
    proc = run([nb_path, "--cache-dir", not_a_dir, "--report", "json", tmp_path / "r.json"], check_rc=0)
    warnings = [l for l in proc.stderr.splitlines() if l.startswith("ripple cache: ")]
    assert len(warnings) == 1 and str(not_a_dir) in warnings[0], proc.stderr
    report, cached = report_of(tmp_path / "r.json")
    assert report["cache"]["available"] is False and cached == [False, False]
    assert not_a_dir.read_text() == "not a cache"
    for args in (["stats"], ["gc", "--max-size", "1M"], ["clear"]):
        proc = run(["cache"] + args + ["--cache-dir", not_a_dir], check_rc=2)
        assert "not a directory" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_cache_stats_gc_and_clear(tmp_path):
    cache = tmp_path / "cache"
    assert "no cache in" in run(["cache", "stats", "--cache-dir", cache], check_rc=0).stdout
    assert not cache.exists(), "asking must not create a cache"
    nb_path = write_notebook(tmp_path / "nb.ipynb", CACHED_CELLS)
    run([nb_path, "--cache-dir", cache], check_rc=0)
    run([nb_path, "--cache-dir", cache], check_rc=0)
    stats = run(["cache", "stats", "--cache-dir", cache], check_rc=0).stdout
    assert f"cache:   {cache}" in stats
    assert "entries: 6 cell executions" in stats and "hits:    6 cells served from the cache" in stats, stats
    env_stats = run(["cache", "stats"], env={"RIPPLE_CACHE_DIR": str(cache)}, check_rc=0).stdout
    assert "entries: 6 cell executions" in env_stats
    kept = run(["cache", "gc", "--cache-dir", cache], check_rc=0).stdout
    assert kept.startswith("removed 0 entries") and "only values no entry uses" in kept, kept
    gc = run(["cache", "gc", "--max-size", "0", "--cache-dir", cache], check_rc=0).stdout
    assert gc.startswith("removed 6 entries") and "(limit 0 B)" in gc, gc
    assert "entries: 0 cell executions" in run(["cache", "stats", "--cache-dir", cache], check_rc=0).stdout
    run([nb_path, "--cache-dir", cache], check_rc=0)
    assert markers(tmp_path) == ["x", "y"] * 2, "after gc every cell runs again"
    cleared = run(["cache", "clear", "--cache-dir", cache], check_rc=0).stdout
    assert cleared.startswith(f"cleared {cache}: removed 6 entries"), cleared
    stats = run(["cache", "stats", "--cache-dir", cache], check_rc=0).stdout
    assert "entries: 0 cell executions" in stats and "values:  0 " in stats, stats
    assert run(["why", nb_path, "make-x", "--cache-dir", cache], check_rc=0).stdout == \
        "make-x [x <- 1:3]: would rerun: it has not run with this cache\n"


def test_parallel_runs_sharing_a_cache_then_a_warm_run(tmp_path):
    """Two runs at once with one --cache-dir both succeed and agree; a third run is then served from the cache."""
    nb_path = write_notebook(tmp_path / "nb.ipynb", [marked("set.seed(1); x <- rnorm(5)", "x"), "round(x, 3)",
                                                     "Sys.sleep(0.5); sum(x > 0)", "plot(x)"])
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([str(run_notebook_binary()), str(nb_path), "-o", str(tmp_path / f"out{i}.ipynb"),
                               "--cache-dir", str(cache), "--quiet"], stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "ripple cache" not in err, err
    a, b = (code_cells(validate(tmp_path / f"out{i}.ipynb")) for i in range(2))
    ran = markers(tmp_path)
    assert ran in (["x"], ["x", "x"]), ran  # each ran it, or the later one found the other's entry
    assert [normalized_outputs(c) for c in a] == [normalized_outputs(c) for c in b]
    run([nb_path, "-o", tmp_path / "warm.ipynb", "--cache-dir", cache, "--report", "json", tmp_path / "warm.json"],
        check_rc=0)
    assert report_of(tmp_path / "warm.json")[1] == [True] * 4
    assert [normalized_outputs(c) for c in code_cells(validate(tmp_path / "warm.ipynb"))] == \
        [normalized_outputs(c) for c in a]
    assert markers(tmp_path) == ran, "the warm run ran nothing"
