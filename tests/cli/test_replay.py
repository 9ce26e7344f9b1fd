"""run-notebook without R: an unchanged notebook or document is served from the cache's replay chain
(dag/replay_chain.hpp) without starting R, and every change the chain checks makes R start, with outputs equal to a
run without the cache. The report's r_started field says which path a run took.
Every test has its own cache directory (conftest.py).

Run: RIPPLE_BUILD_DIR=build /usr/bin/python3 -m pytest -q tests/cli/test_replay.py
"""

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_env import normalized_outputs, read_notebook, run, validate, write_notebook  # noqa: E402

CELLS = [
    "library(tools)",
    "options(digits = 4)",
    "x <- c(1.23456, 2.5)\nx * pi",
    'cat("hi\\n"); message("note"); 40 + 2',
    "plot(x)",
    "d <- read.csv('data.csv')\nsum(d$a)",
    "f <- function(k) k + length(x)\nf(10)",
]


def run_with_report(tmp_path, nb, out_name, *extra, rc=0, env=None):
    report = tmp_path / (out_name + ".json")
    proc = run([nb, "-o", tmp_path / out_name, "--report", "json", report, *extra], cwd=tmp_path, check_rc=rc,
               env=env)
    return json.loads(report.read_text()), proc


def outputs_of(path):
    nb = validate(path)
    return [normalized_outputs(c) for c in nb.cells if c.cell_type == "code"]


def make_notebook(tmp_path, cells=CELLS):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n3,4\n")
    return write_notebook(tmp_path / "nb.ipynb", cells)


def test_an_unchanged_notebook_is_served_without_starting_r(tmp_path):
    nb = make_notebook(tmp_path)
    cold, _ = run_with_report(tmp_path, nb, "cold.ipynb")
    assert cold["r_started"] is True and cold["counts"]["from_cache"] == 0
    warm, proc = run_with_report(tmp_path, nb, "warm.ipynb")
    assert warm["r_started"] is False, proc.stderr
    assert warm["r_start_s"] is None and cold["r_start_s"] > 0
    assert warm["counts"]["from_cache"] == len(CELLS)
    assert "R not started" in proc.stderr
    assert "ripple cache:" not in proc.stderr
    assert outputs_of(tmp_path / "warm.ipynb") == outputs_of(tmp_path / "cold.ipynb")
    # The written notebook still says which R made it, and has execution counts.
    nb_out = read_notebook(tmp_path / "warm.ipynb")
    assert nb_out.metadata["language_info"]["version"] == read_notebook(tmp_path / "cold.ipynb").metadata["language_info"]["version"]
    assert [c.execution_count for c in nb_out.cells] == list(range(1, len(CELLS) + 1))


def test_a_changed_data_file_starts_r_and_matches_a_run_without_the_cache(tmp_path):
    nb = make_notebook(tmp_path)
    run_with_report(tmp_path, nb, "cold.ipynb")
    (tmp_path / "data.csv").write_text("a,b\n10,2\n30,4\n")
    warm, proc = run_with_report(tmp_path, nb, "warm.ipynb")
    assert warm["r_started"] is True
    ran = [c["id"] for c in warm["cells"] if not c["from_cache"]]
    assert len(ran) == 1, ran  # only the cell reading the file; the ones above came from the chain and the cache
    run_with_report(tmp_path, nb, "fresh.ipynb", "--no-cache")
    assert outputs_of(tmp_path / "warm.ipynb") == outputs_of(tmp_path / "fresh.ipynb")
    assert "sum(d$a)" not in proc.stderr or "40" in json.dumps(outputs_of(tmp_path / "warm.ipynb")[5])
    assert "ripple cache:" not in proc.stderr


def test_an_edit_replays_the_cells_above_and_runs_from_the_edit(tmp_path):
    nb = make_notebook(tmp_path)
    run_with_report(tmp_path, nb, "cold.ipynb")
    edited = list(CELLS)
    edited[6] = "f <- function(k) k * length(x)\nf(10)"
    nb2 = write_notebook(tmp_path / "nb.ipynb", edited)
    warm, proc = run_with_report(tmp_path, nb2, "warm.ipynb")
    assert warm["r_started"] is True
    assert [c["from_cache"] for c in warm["cells"]] == [True] * 6 + [False]
    run_with_report(tmp_path, nb2, "fresh.ipynb", "--no-cache")
    assert outputs_of(tmp_path / "warm.ipynb") == outputs_of(tmp_path / "fresh.ipynb")
    assert "ripple cache:" not in proc.stderr
    # The edited run extended the chain: the next run needs no R.
    again, _ = run_with_report(tmp_path, nb2, "again.ipynb")
    assert again["r_started"] is False


def test_a_volatile_cell_starts_r_where_it_stands(tmp_path):
    cells = ["x <- 1:3", "y <- x * 2", "class(Sys.time())[1]", "sum(y)"]
    nb = write_notebook(tmp_path / "nb.ipynb", cells)
    run_with_report(tmp_path, nb, "cold.ipynb")
    warm, proc = run_with_report(tmp_path, nb, "warm.ipynb")
    assert warm["r_started"] is True
    assert [c["from_cache"] for c in warm["cells"]] == [True, True, False, True]
    out = outputs_of(tmp_path / "warm.ipynb")
    assert out[3][0]["data"]["text/plain"] == "[1] 12"
    assert out[2][0]["data"]["text/plain"] == '[1] "POSIXct"'
    assert "ripple cache:" not in proc.stderr


def test_r_started_late_sees_the_session_the_document_built(tmp_path):
    # When R starts at a volatile cell, cells above whose entries bind nothing (printing, plotting, summaries) are
    # not served again; every binding, removal and random draw above must still be in place.
    cells = [
        "set.seed(3); a <- runif(2)",
        "summary(a)",
        "b <- 2",
        "print(b); plot(a)",
        "rm(b)",
        "r <- runif(1)",
        'c(inherits(Sys.time(), "POSIXct"), exists("b"), exists("a"), length(ls()))',
        "z <- runif(1); c(a, r, z)",
        "ls()",
    ]
    nb = write_notebook(tmp_path / "nb.ipynb", cells)
    run_with_report(tmp_path, nb, "cold.ipynb")
    warm, proc = run_with_report(tmp_path, nb, "warm.ipynb")
    assert warm["r_started"] is True
    assert [c["from_cache"] for c in warm["cells"]] == [True] * 6 + [False, True, True]
    run_with_report(tmp_path, nb, "fresh.ipynb", "--no-cache")
    out = outputs_of(tmp_path / "warm.ipynb")
    assert out == outputs_of(tmp_path / "fresh.ipynb")
    assert out[6][0]["data"]["text/plain"] == "[1] 1 0 1 2"  # POSIXct, no b, a, two names (a, r)
    assert "ripple cache:" not in proc.stderr


def test_parameters_are_part_of_the_chain(tmp_path):
    from cli_env import code_cell
    cells = [code_cell("n <- 3", tags=["parameters"]), "seq_len(n) * 10"]
    nb = write_notebook(tmp_path / "nb.ipynb", cells)
    run_with_report(tmp_path, nb, "a.ipynb", "-p", "n", "5")
    same, _ = run_with_report(tmp_path, nb, "b.ipynb", "-p", "n", "5")
    assert same["r_started"] is False
    other, _ = run_with_report(tmp_path, nb, "c.ipynb", "-p", "n", "2")
    assert other["r_started"] is True
    assert outputs_of(tmp_path / "c.ipynb")[-1][0]["data"]["text/plain"] == "[1] 10 20"


def test_environment_force_and_no_cache_take_the_r_path(tmp_path):
    nb = make_notebook(tmp_path)
    run_with_report(tmp_path, nb, "cold.ipynb")
    # A variable R reads at start-up is part of the session's origin.
    env_run, _ = run_with_report(tmp_path, nb, "env.ipynb", env={"R_RIPPLE_TEST_ORIGIN": "1"})
    assert env_run["r_started"] is True and env_run["counts"]["from_cache"] >= 4
    forced, _ = run_with_report(tmp_path, nb, "forced.ipynb", "--force")
    assert forced["r_started"] is True and forced["counts"]["from_cache"] == 0
    uncached, _ = run_with_report(tmp_path, nb, "uncached.ipynb", "--no-cache")
    assert uncached["r_started"] is True
    assert outputs_of(tmp_path / "env.ipynb") == outputs_of(tmp_path / "cold.ipynb")


def test_a_failing_cell_reruns_with_r_and_fails_the_same_way(tmp_path):
    nb = write_notebook(tmp_path / "nb.ipynb", ["x <- 1", "stop('boom ', x)", "x + 1"])
    first, p1 = run_with_report(tmp_path, nb, "a.ipynb", rc=1)
    second, p2 = run_with_report(tmp_path, nb, "b.ipynb", rc=1)
    assert second["r_started"] is True  # a failed run is never a step
    assert "boom 1" in p1.stderr and "boom 1" in p2.stderr
    assert outputs_of(tmp_path / "a.ipynb") == outputs_of(tmp_path / "b.ipynb")


def test_a_reinstalled_package_starts_r(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()

    def install(version, greeting):
        src = tmp_path / "src" / "ripplegreet"
        (src / "R").mkdir(parents=True, exist_ok=True)
        (src / "DESCRIPTION").write_text(
            f"Package: ripplegreet\nVersion: {version}\nTitle: Test\nDescription: Test package.\n"
            "License: MIT\nAuthor: t\nMaintainer: t <t@example.org>\n")
        (src / "NAMESPACE").write_text("export(greet)\n")
        (src / "R" / "greet.R").write_text(f"greet <- function() '{greeting}'\n")
        subprocess.run(["R", "CMD", "INSTALL", "--no-test-load", f"--library={lib}", str(src)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    install("1.0", "hello")
    env = {"R_LIBS": str(lib)}
    nb = write_notebook(tmp_path / "nb.ipynb", ["library(ripplegreet)", "greet()"])
    run_with_report(tmp_path, nb, "a.ipynb", env=env)
    warm, _ = run_with_report(tmp_path, nb, "b.ipynb", env=env)
    assert warm["r_started"] is False
    install("1.1", "bonjour")  # the chain must notice without R; the cache key then names the new version
    after, _ = run_with_report(tmp_path, nb, "c.ipynb", env=env)
    assert after["r_started"] is True
    assert outputs_of(tmp_path / "c.ipynb")[1][0]["data"]["text/plain"] == '[1] "bonjour"'


def test_an_entry_removed_by_cache_clear_starts_r(tmp_path):
    nb = make_notebook(tmp_path)
    run_with_report(tmp_path, nb, "cold.ipynb")
    run(["cache", "clear"], cwd=tmp_path, check_rc=0)
    warm, _ = run_with_report(tmp_path, nb, "warm.ipynb")
    assert warm["r_started"] is True and warm["counts"]["from_cache"] == 0
    assert outputs_of(tmp_path / "warm.ipynb") == outputs_of(tmp_path / "cold.ipynb")


def test_an_unchanged_rmd_is_rendered_without_starting_r(tmp_path):
    (tmp_path / "doc.Rmd").write_text(
        "---\ntitle: Replay\nparams:\n  n: 4\n---\n\n# Numbers\n\n```{r setup}\nlibrary(stats)\nx <- seq_len(params$n)\n```\n\n"
        "There are `r length(x)` numbers.\n\n```{r show, fig.width=4}\nsummary(x)\nplot(x)\n```\n")
    for name in ("a", "b"):
        report = tmp_path / f"{name}.json"
        run([tmp_path / "doc.Rmd", "--to", "md", "-o", tmp_path / f"{name}.md", "--report", "json", report],
            cwd=tmp_path, check_rc=0)
    assert json.loads((tmp_path / "a.json").read_text())["r_started"] is True
    assert json.loads((tmp_path / "b.json").read_text())["r_started"] is False
    assert (tmp_path / "a.md").read_text().replace("a_files", "b_files") == (tmp_path / "b.md").read_text()
    assert (tmp_path / "b_files" / "figure-markdown_strict" / "show-1.png").read_bytes() == \
        (tmp_path / "a_files" / "figure-markdown_strict" / "show-1.png").read_bytes()
    assert "There are 4 numbers." in (tmp_path / "b.md").read_text()


def test_pandoc_html_comes_from_the_cache_when_its_input_is_unchanged(tmp_path):
    doc = tmp_path / "doc.Rmd"
    doc.write_text("---\ntitle: Pandoc\n---\n\n```{r fig}\nplot(1:3)\n```\n\nText.\n")
    reports = []
    for name in ("a", "b"):
        report = tmp_path / f"{name}.json"
        run([doc, "--to", "html", "-o", tmp_path / "out.html", "--report", "json", report], cwd=tmp_path, check_rc=0)
        reports.append(json.loads(report.read_text()))
        (tmp_path / f"{name}.html").write_bytes((tmp_path / "out.html").read_bytes())
    assert [r["html_from_cache"] for r in reports] == [False, True]
    assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()
    # Different text, different HTML: pandoc runs again.
    doc.write_text(doc.read_text().replace("Text.", "Other text."))
    report = tmp_path / "c.json"
    run([doc, "--to", "html", "-o", tmp_path / "out.html", "--report", "json", report], cwd=tmp_path, check_rc=0)
    assert json.loads(report.read_text())["html_from_cache"] is False
    assert "Other text." in (tmp_path / "out.html").read_text()
    # Self-contained output embeds the figures: its own key; --force runs pandoc.
    for extra, cached in ((["--self-contained"], False), (["--self-contained"], True), (["--force"], False)):
        run([doc, "--to", "html", "-o", tmp_path / "out.html", "--report", "json", report, *extra], cwd=tmp_path,
            check_rc=0)
        assert json.loads(report.read_text())["html_from_cache"] is cached, extra
