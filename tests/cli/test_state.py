# test_state.py: run-notebook keeps the invariant on everyday R with one cache shared by its runs (issue 14): reflective
# reads, packages' own state (data.table, R6, dplyr), files through computed paths (readr, data.table, base R),
# environment variables, and what cannot be exact (a socket, a program): named, never served, explained by why.
import socket
import threading

import nbformat

from cli_env import code_cell, run, write_notebook


def outputs_of(path):
    """cell id -> its text outputs joined (streams and text/plain), as a reader of the notebook sees them."""
    nb = nbformat.read(str(path), as_version=4)
    shown = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for out in cell.outputs:
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.data.get("text/plain", ""))
            elif out.output_type == "error":
                parts.append(f"{out.ename}: {out.evalue}")
        shown[cell.id] = "".join(parts).strip()
    return shown


def run_cells(tmp_path, name, cells, cache, expect_rc=0, extra=()):
    """Writes cells ((id, code) pairs) as a notebook and runs it with the shared cache; returns (outputs, stderr)."""
    nb = write_notebook(tmp_path / f"{name}.ipynb", [code_cell(code, cell_id=cid) for cid, code in cells])
    out = tmp_path / f"{name}.out.ipynb"
    proc = run([nb, "-o", out, "--cache-dir", cache, *extra], cwd=tmp_path, check_rc=expect_rc)
    return outputs_of(out), proc.stderr


def test_reflective_reads_in_a_later_run_answer_for_that_run(tmp_path):
    cache = tmp_path / "cache"
    readers = [("r1", "exists('y')"), ("r2", "get0('y', ifnotfound = 'none')"), ("r3", "length(ls())"),
               ("r4", "f <- function() exists('y'); f()"), ("r5", "eval(parse(text = 'if (exists(\"y\")) y else 0'))")]
    first, _ = run_cells(tmp_path, "with_y", [("y", "y <- 5")] + readers, cache)
    assert first["r1"] == "[1] TRUE" and first["r2"] == "[1] 5" and first["r5"] == "[1] 5", first
    later, _ = run_cells(tmp_path, "without_y", readers, cache)
    assert later["r1"] == "[1] FALSE", later
    assert later["r2"] == '[1] "none"', later
    assert later["r3"] == "[1] 0", later
    assert later["r4"] == "[1] FALSE" and later["r5"] == "[1] 0", later


def test_package_objects_changed_in_place_and_package_options(tmp_path):
    cache = tmp_path / "cache"
    cells = [("lib", "library(data.table); library(dplyr, warn.conflicts = FALSE)"),
             ("dt", "dt <- data.table(a = 1:3)"),
             ("set", "dt[, b := a * 2]"),
             ("sum", "dt[, sum(b)]"),
             ("r6", "Counter <- R6::R6Class('Counter', public = list(n = 0, add = function() {\n"
                    "  self$n <- self$n + 1; invisible(self) }))\ncnt <- Counter$new()"),
             ("add", "cnt$add()$add()"),
             ("count", "cnt$n"),
             ("dplyr", "d <- mtcars %>% filter(cyl > 4) %>% mutate(k = mpg * 2); nrow(d)")]
    for name in ("cold", "warm"):
        shown, _ = run_cells(tmp_path, name, cells, cache)
        assert shown["set"] == "", shown  # `:=` prints nothing at top level, as in R's console
        assert shown["sum"] == "[1] 12" and shown["count"] == "[1] 2" and shown["dplyr"] == "[1] 21", (name, shown)
    # Edited in the notebook: the in-place change and what reads it follow; data.table still works after reruns.
    cells[2] = ("set", "dt[, b := a * 10]")
    shown, _ = run_cells(tmp_path, "edited", cells, cache)
    assert shown["sum"] == "[1] 60", shown


def test_an_edited_writer_changes_what_its_reader_shows(tmp_path):
    cache = tmp_path / "cache"

    def cells(n):
        return [("path", 'p <- file.path("data", paste0("table", ".csv")); dir.create("data", showWarnings = FALSE)'),
                ("write", f"readr::write_csv(data.frame(a = 1:{n}), p)"),
                ("readr", "readr::read_csv(p, show_col_types = FALSE) |> dplyr::summarise(s = sum(a)) |> "
                          "dplyr::pull(s)"),
                ("fread", "sum(data.table::fread(p)$a)"),
                ("base", "sum(read.csv(p)$a)")]
    shown, _ = run_cells(tmp_path, "files3", cells(3), cache)
    assert shown["readr"] == "[1] 6" and shown["fread"] == "[1] 6" and shown["base"] == "[1] 6", shown
    shown, _ = run_cells(tmp_path, "files5", cells(5), cache)
    assert shown["readr"] == "[1] 15" and shown["fread"] == "[1] 15" and shown["base"] == "[1] 15", shown
    # The file changed behind the cache's back: a reader of it recomputes.
    (tmp_path / "data" / "table.csv").write_text("a\n100\n")
    shown, _ = run_cells(tmp_path, "readers", cells(5)[:1] + cells(5)[2:], cache)
    assert shown["readr"] == "[1] 100" and shown["base"] == "[1] 100", shown


def test_an_edited_environment_variable_changes_what_its_reader_shows(tmp_path):
    cache = tmp_path / "cache"

    def cells(region):
        return [("set", f'Sys.setenv(REGION = "{region}")'), ("get", 'Sys.getenv("REGION")'),
                ("use", 'paste("region", Sys.getenv("REGION"))')]
    assert run_cells(tmp_path, "west", cells("west"), cache)[0]["use"] == '[1] "region west"'
    shown, _ = run_cells(tmp_path, "east", cells("east"), cache)
    assert shown["get"] == '[1] "east"' and shown["use"] == '[1] "region east"', shown


def test_a_socket_and_a_program_are_named_never_served_and_explained(tmp_path):
    cache = tmp_path / "cache"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    answered = []

    def serve():
        for _ in range(2):
            conn, _ = listener.accept()
            answered.append(1)
            with conn:
                conn.sendall(f"{len(answered)}\n".encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        cells = [("ask", f'con <- socketConnection("127.0.0.1", {port}, blocking = TRUE, timeout = 10); '
                         "answer <- readLines(con, 1); close(con); answer"),
                 ("echo", 'processx::run("echo", "hello")$stdout')]
        for n in (1, 2):
            shown, stderr = run_cells(tmp_path, f"outside{n}", cells, cache)
            assert shown["ask"] == f'[1] "{n}"', shown
            assert f"it reaches outside R (a socket to 127.0.0.1:{port})" in stderr, stderr
            assert "it reaches outside R (the program `echo hello`)" in stderr, stderr
        why = run(["why", tmp_path / "outside2.ipynb", "--cache-dir", cache], cwd=tmp_path, check_rc=0)
        assert f"ask [con <- socketConnection" in why.stdout, why.stdout
        assert f"reaches outside R (a socket to 127.0.0.1:{port}), which ripple cannot check" in why.stdout, why.stdout
    finally:
        thread.join(timeout=5)
        listener.close()
