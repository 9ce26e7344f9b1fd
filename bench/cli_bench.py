#!/usr/bin/python3
# cli_bench.py: run-notebook side by side with its peers in one run: a notebook vs `jupyter nbconvert --execute`
# with IRkernel, an R Markdown document vs rmarkdown::render (HTML and Markdown), and a real document (setup chunk with
# opts_chunk$set(), chunks mixing library() with computation: --rmd-only runs just that); cold (empty cache), warm (unchanged),
# after one edit.
# Prints ratios and writes bench/results/cli_bench.json; asserts nothing about time (benchmarks are not tests).
"""run-notebook benchmark.

    /usr/bin/python3 bench/cli_bench.py [--repeats 5]

Workload (generated, the same R code on both sides):
- notebook: 30 code cells of everyday R (data frames, aggregate, lm/glm, summaries, printing, 3 plots,
  a 0.1 s Sys.sleep standing in for real work), nbformat 4.5;
- R Markdown: the same 30 pieces as chunks, with headings, inline `r` values and params.
Every run is a fresh process. Cold: `run-notebook NB.ipynb -o OUT` with an empty cache directory (so it pays for
filling the cache) vs `python3 -m nbconvert --to notebook --execute` with Debian's IRkernel (kernelspec in a
temporary prefix); `run-notebook DOC.Rmd --to html|md` vs `Rscript -e 'rmarkdown::render(...)'` with
html_document / md_document. Runs alternate between the two sides; medians of --repeats wall-clock times;
ratio = run-notebook / peer (below 1 is faster).
Warm: the unchanged notebook (document) again with the cache of an earlier run. Its ratio is against the cold
peer of the same benchmark run (nbconvert + IRkernel, rmarkdown::render: they have no cache), and is also given
against run-notebook's own cold run. One piece reads the clock (Sys.Date), so a warm run must start R for it; the
same notebook without that piece ("warm, all cacheable", 29 cells, against nbconvert on those 29 cells) shows a warm
run that needs no R at all (the JSON report's r_started).
Second node (the team cache, RIPPLE_REMOTE_CACHE): Debian's nginx with WebDAV PUT on 127.0.0.1 (tests/cache/
team_server.py) holds what one cold run uploaded; each timed run has an empty local cache, so every cell comes
from the server (read-through, verified, kept locally). Ratio against run-notebook's own cold run of the same
notebook (target <= 0.1), for the 30-cell notebook and its all-cacheable variant; also the cold run with the team
cache set (its write-behind drains before exit) against the cold run without it, and a warm run from a local cache. `--only-team-cache` runs just this
part (and run-notebook's cold runs), without the peers.
After one edit: one cell's code changed (a new value each repeat, so it always misses) with the warm cache; the
cells that ran are read from the run's JSON report, and the time is compared with warm + the cold durations of
those cells (proportional: a ratio near 1).
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "kernel"))
sys.path.insert(0, str(REPO / "tests" / "cli"))
sys.path.insert(0, str(REPO / "tests" / "cache"))

from cli_env import run_notebook_binary  # noqa: E402
from kernel_env import install_irkernel  # noqa: E402

TARGETS = {"notebook_second_node": 0.1, "notebook_cold": 0.8, "rmd_cold_html": 1.0, "notebook_warm": 0.05, "rmd_unchanged_html": 0.3,
           "rmd_unchanged_md": 0.3}

# One-cell edits for "after one edit": (piece index, code with {i} for a value that is new in each repeat).
EDITS = {
    "small": (19, "words <- c('ripple', 'engine', 'cache', 'notebook', 'edit{i}')\ntoupper(words)"),
    "large": (10, "df$z <- df$y > {i} / 10\nmean(df$z)"),  # each threshold changes z (no early cutoff)
}

PIECES = [
    "n <- 2000\nset.seed(7)",
    "df <- data.frame(id = seq_len(n), g = sample(letters[1:5], n, TRUE), x = rnorm(n))",
    "df$y <- 3 * df$x + rnorm(n)\nhead(df)",
    "summary(df$x)",
    "table(df$g)",
    "agg <- aggregate(y ~ g, data = df, FUN = mean)\nagg",
    "fit <- lm(y ~ x + g, data = df)\ncoef(fit)",
    "summary(fit)$r.squared",
    "anova(fit)",
    "plot(y ~ x, data = df[1:300, ], pch = 19, col = 'steelblue')",
    "df$z <- df$y > 0\nmean(df$z)",
    "logit <- glm(z ~ x, data = df, family = binomial)\nround(coef(logit), 3)",
    "quantile(df$y, c(0.05, 0.5, 0.95))",
    "split_means <- sapply(split(df$y, df$g), mean)\nsplit_means",
    "hist(df$y, breaks = 40, main = 'y')",
    "m <- matrix(rnorm(400), 20)\ndim(crossprod(m))",
    "s <- svd(m)$d\nround(head(s), 3)",
    "cors <- cor(df[, c('x', 'y')])\ncors",
    "Sys.sleep(0.1)  # stands in for real work\n'slept'",
    "words <- c('ripple', 'engine', 'cache', 'notebook')\ntoupper(words)",
    "nchar(words)",
    "lst <- list(a = 1:3, b = letters[1:2])\nstr(lst)",
    "fib <- function(k) if (k < 2) k else fib(k - 1) + fib(k - 2)\nfib(18)",
    "vapply(1:10, function(i) i^2, numeric(1))",
    "boxplot(y ~ g, data = df)",
    "tail(df[order(df$y), ], 3)",
    "t.test(df$x)$p.value > 0",
    "format(Sys.Date(), '%Y') > '2000'",
    "paste('rows:', nrow(df), 'groups:', length(unique(df$g)))",
    "message('done')\ninvisible(TRUE)",
]


# The one piece no cache may serve (it reads the clock): a warm run must start R for it.
VOLATILE = {i for i, code in enumerate(PIECES) if "Sys.Date" in code}


def write_notebook(path, pieces=PIECES):
    import nbformat
    import nbformat.v4 as v4
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    nb.cells = [v4.new_markdown_cell("# Benchmark notebook")] + [v4.new_code_cell(code) for code in pieces]
    nbformat.write(nb, str(path))


def write_rmd(path, output_format):
    parts = ["---", 'title: "Benchmark report"', f"output: {output_format}", "params:", "  n: 2000", "---", "",
             "This report has `r length(letters)` letters and uses n = `r params$n`.", ""]
    for i, code in enumerate(PIECES):
        if i % 5 == 0:
            parts += [f"## Part {i // 5 + 1}", ""]
        parts += [f"```{{r piece-{i + 1}}}", code, "```", ""]
    parts += ["The mean of x was `r round(mean(df$x), 3)`.", ""]
    path.write_text("\n".join(parts))


# A real document's shape (issue 16): a setup chunk with knitr::opts_chunk$set() and library(), chunks that mix
# library() with computation, and chunks after them; rendered by run-notebook and rmarkdown::render side by side.
REAL_CHUNKS = [
    ("setup", "knitr::opts_chunk$set(echo = TRUE, fig.width = 6)\nlibrary(stats)\nlibrary(MASS)"),
    ("load", "library(tibble)\nset.seed(11)\ndf <- as_tibble(data.frame(x = rnorm(5000), g = sample(letters[1:5], 5000, TRUE)))\n"
             "df$y <- 2 * df$x + rnorm(5000)\ndf"),
    ("model", "fit <- lm(y ~ x + g, data = df)\nknitr::kable(coef(summary(fit)), digits = 3)"),
    ("robust", "rfit <- rlm(y ~ x, data = df)\nround(coef(rfit), 3)"),
    ("groups", "suppressPackageStartupMessages(library(dplyr))\nby_g <- df %>% group_by(g) %>% summarise(y = mean(y))\nby_g"),
    ("plot", "plot(y ~ x, data = df[1:500, ], pch = 19)"),
    ("hist", "hist(df$y, breaks = 40)"),
    ("boot", "b <- replicate(200, mean(sample(df$y, replace = TRUE)))\nquantile(b, c(0.05, 0.95))"),
    ("table", "knitr::kable(head(as.data.frame(by_g)))"),
    ("summary", "summary(fit)$r.squared"),
]
REAL_EDIT = ("summary", "round(summary(fit)$r.squared, {i})")


def write_real_rmd(path, edit=None):
    parts = ["---", 'title: "A real document"', "output: md_document", "---", ""]
    for label, code in REAL_CHUNKS:
        if edit and label == edit[0]:
            code = edit[1]
        options = ", include = FALSE" if label == "setup" else ""
        parts += [f"Chunk {label}.", "", f"```{{r {label}{options}}}", code, "```", ""]
    path.write_text("\n".join(parts))


def bench_real_document(exe, work, env, repeats):
    """Cold, unchanged and one-edit renders of the real document, each against rmarkdown::render in the same run."""
    doc = work / "real.Rmd"
    write_real_rmd(doc)
    peer = ["Rscript", "-e", "rmarkdown::render('real.Rmd', output_file = 'rmarkdown-real.md', quiet = TRUE)"]
    fresh = iter(range(1_000_000))
    cold_cmd = lambda: [str(exe), "real.Rmd", "--to", "md", "-o", "ripple-real.md", "-q", "--report", "json",
                        "real-cold.json", "--cache-dir", str(work / f"real-cold-{next(fresh)}")]
    timed(cold_cmd(), work, env)
    timed(peer, work, env)
    cold, theirs = [], []
    for _ in range(repeats):
        cold.append(timed(cold_cmd(), work, env))
        theirs.append(timed(peer, work, env))
    # The same to HTML (pandoc on both sides; rmarkdown's html_document, self-contained by default, against
    # run-notebook --self-contained).
    html_cmd = lambda: [str(exe), "real.Rmd", "--to", "html", "--self-contained", "-o", "ripple-real.html", "-q",
                        "--cache-dir", str(work / f"real-cold-{next(fresh)}")]
    html_peer = ["Rscript", "-e", "rmarkdown::render('real.Rmd', output_format = 'html_document', "
                 "output_file = 'rmarkdown-real.html', quiet = TRUE)"]
    timed(html_cmd(), work, env)
    timed(html_peer, work, env)
    cold_html, theirs_html = [], []
    for _ in range(repeats):
        cold_html.append(timed(html_cmd(), work, env))
        theirs_html.append(timed(html_peer, work, env))
    cold_cells = report(work / "real-cold.json")
    cache = str(work / "real-warm")
    warm_cmd = [str(exe), "real.Rmd", "--to", "md", "-o", "ripple-real.md", "-q", "--report", "json",
                "real-warm.json", "--cache-dir", cache]
    timed(warm_cmd, work, env)
    warm = [timed(warm_cmd, work, env) for _ in range(repeats)]
    warm_report = json.loads((work / "real-warm.json").read_text())
    edit_times, predicted, ran_counts = [], [], []
    for i in range(1, repeats + 1):
        write_real_rmd(doc, (REAL_EDIT[0], REAL_EDIT[1].format(i=i + 3)))
        edit_times.append(timed([str(exe), "real.Rmd", "--to", "md", "-o", "ripple-real.md", "-q", "--report", "json",
                                 "real-edit.json", "--cache-dir", cache], work, env))
        cells = report(work / "real-edit.json")
        ran = [cid for cid, c in cells.items() if not c["from_cache"]]
        ran_counts.append(len(ran))
        # What a proportional render costs: the warm render, R's start-up and the stale chunks' cold time.
        predicted.append(statistics.median(warm) + json.loads((work / "real-edit.json").read_text())["r_start_s"] +
                         sum(cold_cells[cid]["duration_s"] for cid in ran if cid in cold_cells))
    write_real_rmd(doc)
    # What an edit must pay before any chunk runs again: loading knitr and attaching the document's packages (the
    # served chunks above are restored with the search path they left), measured in a bare R in the same run.
    packages = ["Rscript", "-e", "invisible(loadNamespace('knitr')); suppressPackageStartupMessages({library(MASS); "
                "library(tibble); library(dplyr)})"]
    bare = ["Rscript", "-e", "invisible(1)"]
    loading = [timed(packages, work, env) - timed(bare, work, env) for _ in range(repeats)]
    med = statistics.median
    return {
        "rmd_real_cold": {"run_notebook_s": med(cold), "peer_s": med(theirs), "ratio": med(cold) / med(theirs),
                          "peer": "rmarkdown::render (md_document)", "target": 1.0, "samples": cold,
                          "peer_samples": theirs},
        "rmd_real_cold_html": {"run_notebook_s": med(cold_html), "peer_s": med(theirs_html),
                               "ratio": med(cold_html) / med(theirs_html), "target": 1.0, "samples": cold_html,
                               "peer": "rmarkdown::render (html_document, self-contained)", "peer_samples": theirs_html},
        "rmd_real_unchanged": {"run_notebook_s": med(warm), "peer_s": med(theirs), "ratio": med(warm) / med(theirs),
                               "peer": "rmarkdown::render (md_document), cold", "target": 0.2, "samples": warm,
                               "r_started": warm_report["r_started"],
                               "from_cache": warm_report["counts"]["from_cache"]},
        "rmd_real_after_edit": {"run_notebook_s": med(edit_times), "predicted_s": med(predicted),
                                "vs_predicted": med(edit_times) / med(predicted), "peer_s": med(theirs),
                                "ratio": med(edit_times) / med(theirs), "cells_run": ran_counts,
                                "chunks": len(REAL_CHUNKS), "samples": edit_times,
                                "package_loading_s": med(loading),
                                "vs_predicted_with_loading": med(edit_times) / (med(predicted) + med(loading)),
                                "note": "predicted = warm + R start-up + the stale chunks' cold durations; "
                                        "package_loading_s = knitr and the document's packages in a bare Rscript"},
    }


def print_real_document(metrics):
    for name in ("rmd_real_cold", "rmd_real_cold_html", "rmd_real_unchanged"):
        m = metrics[name]
        print(f"{name:<22} {m['run_notebook_s']:>11.3f} s {m['peer_s']:>7.3f} s {m['ratio']:>7.2f}  {m['peer']}; "
              f"target <= {m['target']}: {'met' if m['ratio'] <= m['target'] else 'NOT met'}")
    m = metrics["rmd_real_after_edit"]
    print(f"{'rmd_real_after_edit':<22} {m['run_notebook_s']:>11.3f} s {m['peer_s']:>7.3f} s {m['ratio']:>7.2f}  "
          f"{max(m['cells_run'])} of {m['chunks']} chunks run; warm + R start + their cold time = "
          f"{m['predicted_s']:.3f} s, ratio {m['vs_predicted']:.2f}; with loading knitr and the packages "
          f"({m['package_loading_s']:.3f} s): ratio {m['vs_predicted_with_loading']:.2f}")


def timed(cmd, cwd, env=None, timeout=600):
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stderr.decode()[-2000:]}")
    if b"ripple cache:" in proc.stderr:
        print(f"WARNING: {proc.stderr.decode().strip()}", file=sys.stderr)
    return seconds


def check_notebook(path, expect_images):
    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    images = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    if errors or images != expect_images or any(c.execution_count is None for c in code):
        print(f"WARNING: {path.name}: {len(errors)} errors, {images} images (expected {expect_images})", file=sys.stderr)
    return [[{k: v for k, v in o.items() if k != "metadata"} for o in c.outputs] for c in code]


def report(path):
    data = json.loads(Path(path).read_text())
    return {c["id"]: c for c in data["cells"]}


def team_cache(exe, work, env, repeats):
    """Cold (no team cache), cold with the team cache (uploading), and the second node (empty local cache, warm
    server), for the notebook and its all-cacheable variant. Returns the metrics."""
    from team_server import TeamCacheServer
    fresh = iter(range(1_000_000))
    key = work / "team.key"
    key.write_text("benchmark team key, not a secret\n")
    metrics = {}
    for name, notebook in (("notebook", "bench.ipynb"), ("notebook_all_cacheable", "bench-cacheable.ipynb")):
        server = TeamCacheServer(work / f"nginx-{name}").start()
        try:
            team_env = dict(env, RIPPLE_REMOTE_CACHE=server.url, RIPPLE_REMOTE_CACHE_KEY_FILE=str(key))

            def runner(environment, stem="team"):
                return [str(exe), notebook, "-o", f"{stem}-out.ipynb", "-q", "--report", "json", f"{stem}.json",
                        "--cache-dir", str(work / f"team-cache-{next(fresh)}")]

            timed(runner(team_env), work, team_env)  # fills the server (and one untimed run of each side)
            timed(runner(env), work, env)
            local_warm = [str(exe), notebook, "-o", "local-warm-out.ipynb", "-q", "--cache-dir",
                          str(work / f"team-local-warm-{name}")]
            timed(local_warm, work, env)  # fills a local cache: the first node's own warm run, for comparison
            samples = {"cold": [], "cold_uploading": [], "second_node": [], "local_warm": []}
            for _ in range(repeats):
                samples["cold"].append(timed(runner(env), work, env))
                server.clear()  # a cold run with the team cache: nothing on the server either, everything uploads
                samples["cold_uploading"].append(timed(runner(team_env), work, team_env))
                samples["second_node"].append(timed(runner(team_env, "second"), work, team_env))
                samples["local_warm"].append(timed(local_warm, work, env))
            second = json.loads((work / "second.json").read_text())
            med = {k: statistics.median(v) for k, v in samples.items()}
            metrics[name] = {
                "cold_s": med["cold"], "cold_uploading_s": med["cold_uploading"], "second_node_s": med["second_node"],
                "local_warm_s": med["local_warm"], "second_node_vs_local_warm": med["second_node"] / med["local_warm"],
                "second_node_vs_cold": med["second_node"] / med["cold"],
                "upload_overhead": med["cold_uploading"] / med["cold"] - 1,
                "second_node_from_cache": second["counts"]["from_cache"], "cells": second["counts"]["cells"],
                "second_node_r_started": second["r_started"], "target": TARGETS["notebook_second_node"],
                "server": "nginx " + subprocess.run(["nginx", "-v"], stderr=subprocess.PIPE, text=True).stderr.strip(),
                "samples": samples}
        finally:
            server.stop()
    for name, m in metrics.items():
        verdict = "met" if m["second_node_vs_cold"] <= m["target"] else "NOT met"
        print(f"{'second node, ' + name:<36} {m['second_node_s']:.3f} s vs cold {m['cold_s']:.3f} s: "
              f"{m['second_node_vs_cold']:.3f} (target <= {m['target']}: {verdict}); "
              f"{m['second_node_from_cache']} of {m['cells']} cells from the cache, R started: "
              f"{m['second_node_r_started']}; cold with uploads {m['cold_uploading_s']:.3f} s "
              f"({m['upload_overhead']:+.1%}); local warm {m['local_warm_s']:.3f} s")
    return metrics


def main():
    import nbformat
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only-team-cache", action="store_true",
                        help="only the second-node measurement (writes bench/results/cli_bench_team_cache.json)")
    parser.add_argument("--rmd-only", action="store_true",
                        help="only the real R Markdown document (no IRkernel, writes results/cli_bench_rmd.json)")
    args = parser.parse_args()
    exe = run_notebook_binary()
    work = Path(tempfile.mkdtemp(prefix="ripple-cli-bench-"))
    fresh = iter(range(1_000_000))
    if args.rmd_only:
        try:
            env = dict(os.environ, LC_ALL="C.UTF-8", RIPPLE_CACHE_DIR=str(work / "unused-cache"))
            load = os.getloadavg()
            metrics = bench_real_document(exe, work, env, args.repeats)
            print_real_document(metrics)
            results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                                stdout=subprocess.PIPE, text=True).stdout.strip(),
                       "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "load_before": load},
                       "repeats": args.repeats, "metrics": metrics}
            out = HERE / "results" / "cli_bench_rmd.json"
            out.write_text(json.dumps(results, indent=1) + "\n")
            print(f"wrote {out.relative_to(REPO)}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    try:
        prefix = work / "prefix"
        install_irkernel(prefix, "ir")
        env = dict(os.environ, JUPYTER_PATH=str(prefix / "share" / "jupyter"), LC_ALL="C.UTF-8")
        env.pop("RIPPLE_CACHE", None)
        env["RIPPLE_CACHE_DIR"] = str(work / "unused-cache")  # every run below names its own --cache-dir
        nb = work / "bench.ipynb"
        write_notebook(nb)
        cacheable_nb = work / "bench-cacheable.ipynb"  # the same without its volatile piece: every cell cacheable
        write_notebook(cacheable_nb, [code for i, code in enumerate(PIECES) if i not in VOLATILE])
        html_doc, md_doc = work / "report.Rmd", work / "report_md.Rmd"
        write_rmd(html_doc, "html_document")
        write_rmd(md_doc, "md_document")
        if args.only_team_cache:
            metrics = team_cache(exe, work, env, args.repeats)
            out = HERE / "results" / "cli_bench_team_cache.json"
            out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                       "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short",
                                                                 "HEAD"], stdout=subprocess.PIPE,
                                                                text=True).stdout.strip(),
                                       "machine": {"cores": os.cpu_count(), "load_before": os.getloadavg()},
                                       "repeats": args.repeats, "metrics": metrics}, indent=1) + "\n")
            print(f"wrote {out.relative_to(REPO)}")
            return

        def cold(cmd):
            # A new, empty cache for every cold run: what a first run pays, including filling the cache.
            return lambda: cmd + ["--cache-dir", str(work / f"cold-cache-{next(fresh)}")]

        sides = {
            "notebook_cold": (
                cold([str(exe), "bench.ipynb", "-o", "ripple-out.ipynb", "-q", "--report", "json", "cold.json"]),
                ["/usr/bin/python3", "-m", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name=ir",
                 "--ExecutePreprocessor.timeout=600", "--output", "nbconvert-out.ipynb", "bench.ipynb"]),
            "rmd_cold_html": (
                cold([str(exe), "report.Rmd", "--to", "html", "-o", "ripple-report.html", "-q"]),
                ["Rscript", "-e", "rmarkdown::render('report.Rmd', output_file = 'rmarkdown-report.html', quiet = TRUE)"]),
            "rmd_cold_md": (
                cold([str(exe), "report_md.Rmd", "--to", "md", "-o", "ripple-report.md", "-q"]),
                ["Rscript", "-e", "rmarkdown::render('report_md.Rmd', output_file = 'rmarkdown-report.md', quiet = TRUE)"]),
        }
        samples = {name: {"run-notebook": [], "peer": []} for name in sides}
        for name, (ours, peer) in sides.items():
            timed(ours(), work, env)  # one untimed run each: file system caches, not R's state (every run is a new process)
            timed(peer, work, env)
            for _ in range(args.repeats):
                samples[name]["run-notebook"].append(timed(ours(), work, env))
                samples[name]["peer"].append(timed(peer, work, env))
        cold_outputs = check_notebook(work / "ripple-out.ipynb", 3)
        check_notebook(work / "nbconvert-out.ipynb", 3)
        cold_cells = report(work / "cold.json")

        # Warm: the same input again, with the cache an earlier run filled (one untimed filling run, one untimed warm).
        warm = {
            "notebook_warm": [str(exe), "bench.ipynb", "-o", "warm-out.ipynb", "-q", "--report", "json", "warm.json",
                              "--cache-dir", str(work / "warm-nb")],
            "rmd_unchanged_html": [str(exe), "report.Rmd", "--to", "html", "-o", "warm-report.html", "-q",
                                   "--cache-dir", str(work / "warm-html")],
            "rmd_unchanged_md": [str(exe), "report_md.Rmd", "--to", "md", "-o", "warm-report.md", "-q",
                                 "--cache-dir", str(work / "warm-md")],
        }
        warm["notebook_warm_all_cacheable"] = [str(exe), cacheable_nb.name, "-o", "warm-cacheable-out.ipynb", "-q",
                                               "--report", "json", "warm-cacheable.json",
                                               "--cache-dir", str(work / "warm-cacheable")]
        for name, cmd in warm.items():
            timed(cmd, work, env)
            timed(cmd, work, env)
            samples[name] = {"run-notebook": [timed(cmd, work, env) for _ in range(args.repeats)]}
        # Its peer: nbconvert + IRkernel on the same 29 cells (the cache-free peer runs everything every time).
        cacheable_peer = ["/usr/bin/python3", "-m", "nbconvert", "--to", "notebook", "--execute",
                          "--ExecutePreprocessor.kernel_name=ir", "--ExecutePreprocessor.timeout=600", "--output",
                          "nbconvert-cacheable-out.ipynb", cacheable_nb.name]
        samples["notebook_warm_all_cacheable"]["peer"] = [timed(cacheable_peer, work, env) for _ in range(args.repeats)]
        r_started = {name: json.loads((work / f"{stem}.json").read_text())["r_started"]
                     for name, stem in (("notebook_warm", "warm"), ("notebook_warm_all_cacheable", "warm-cacheable"))}
        if check_notebook(work / "warm-out.ipynb", 3) != cold_outputs:
            print("WARNING: the warm notebook's outputs differ from the cold run's", file=sys.stderr)
        warm_cells = report(work / "warm.json")
        not_cached = [c["label"] for c in warm_cells.values() if not c["from_cache"]]

        # After one edit: a copy of the notebook with one piece changed, run with a copy of the warm cache.
        edits = {}
        for kind, (piece, template) in EDITS.items():
            times, ran_sets, predicted = [], [], []
            for i in range(1, args.repeats + 1):
                edited = work / f"edit-{kind}.ipynb"
                book = nbformat.read(str(nb), as_version=4)
                book.cells[1 + piece].source = template.format(i=i)
                nbformat.write(book, str(edited))
                cmd = [str(exe), edited.name, "-o", f"edit-{kind}-out.ipynb", "-q", "--report", "json",
                       f"edit-{kind}.json", "--cache-dir", str(work / "warm-nb")]
                times.append(timed(cmd, work, env))
                cells = report(work / f"edit-{kind}.json")
                ran = [cid for cid, c in cells.items() if not c["from_cache"]]
                ran_sets.append(len(ran))
                # Cells that run in a warm run too (never cacheable) are in the warm time already.
                predicted.append(statistics.median(samples["notebook_warm"]["run-notebook"]) +
                                 sum(cold_cells[cid]["duration_s"] for cid in ran
                                     if cid in cold_cells and warm_cells[cid]["from_cache"]))
            edits[kind] = {"piece": piece + 1, "code": template, "samples": times, "cells_run": ran_sets,
                           "predicted_s": predicted, "labels_run": [cells[cid]["label"] for cid in ran]}

        results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                            stdout=subprocess.PIPE, text=True).stdout.strip(),
                   "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                               "load_before": os.getloadavg()},
                   "repeats": args.repeats, "cells": len(PIECES), "metrics": {}}
        peers = {"notebook_cold": "jupyter nbconvert --execute (IRkernel)",
                 "rmd_cold_html": "rmarkdown::render (html_document)",
                 "rmd_cold_md": "rmarkdown::render (md_document)"}
        cold_of = {"notebook_warm": "notebook_cold", "rmd_unchanged_html": "rmd_cold_html", "rmd_unchanged_md": "rmd_cold_md"}
        med = {name: statistics.median(data["run-notebook"]) for name, data in samples.items()}
        cacheable_samples = samples.pop("notebook_warm_all_cacheable")
        print(f"{'metric':<22} {'run-notebook':>13} {'peer':>9} {'ratio':>7}  peer / target")
        for name in sides:
            ours, theirs = med[name], statistics.median(samples[name]["peer"])
            ratio = ours / theirs
            target = TARGETS.get(name)
            verdict = "" if target is None else f"  target <= {target}: {'met' if ratio <= target else 'NOT met'}"
            results["metrics"][name] = {"run_notebook_s": ours, "peer_s": theirs, "ratio": ratio, "peer": peers[name],
                                        "target": target, "samples": samples[name]}
            print(f"{name:<22} {ours:>11.3f} s {theirs:>7.3f} s {ratio:>7.2f}  {peers[name]}{verdict}")
        for name, cold_name in cold_of.items():
            ours, theirs = med[name], results["metrics"][cold_name]["peer_s"]
            ratio, own = ours / theirs, ours / med[cold_name]
            target = TARGETS.get(name)
            verdict = f"  target <= {target}: {'met' if ratio <= target else 'NOT met'}"
            results["metrics"][name] = {"run_notebook_s": ours, "peer_s": theirs, "ratio": ratio,
                                        "peer": peers[cold_name] + ", cold (no cache)", "target": target,
                                        "vs_own_cold": own, "samples": samples[name]}
            print(f"{name:<22} {ours:>11.3f} s {theirs:>7.3f} s {ratio:>7.2f}  cold {peers[cold_name]}{verdict};"
                  f" {own:.2f} of run-notebook's own cold run")
        results["metrics"]["notebook_warm"]["cells_not_from_cache"] = not_cached
        results["metrics"]["notebook_warm"]["r_started"] = r_started["notebook_warm"]
        ours, theirs = med["notebook_warm_all_cacheable"], statistics.median(cacheable_samples["peer"])
        results["metrics"]["notebook_warm_all_cacheable"] = {
            "run_notebook_s": ours, "peer_s": theirs, "ratio": ours / theirs, "target": TARGETS["notebook_warm"],
            "peer": peers["notebook_cold"] + ", cold, on the same 29 cells", "samples": cacheable_samples,
            "r_started": r_started["notebook_warm_all_cacheable"],
            "note": "the benchmark notebook without its one volatile cell (Sys.Date), so every cell is cacheable"}
        print(f"{'warm, all cacheable':<22} {ours:>11.3f} s {theirs:>7.3f} s {ours / theirs:>7.2f}  the notebook without "
              f"its volatile cell (29 cells), vs nbconvert on the same; R started: {r_started['notebook_warm_all_cacheable']}")
        if not_cached:
            print(f"{'':<22} warm cells not served from the cache: {', '.join(not_cached)}")
        for kind, data in edits.items():
            ours = statistics.median(data["samples"])
            predicted = statistics.median(data["predicted_s"])
            data.update({"run_notebook_s": ours, "predicted_median_s": predicted, "vs_predicted": ours / predicted,
                         "vs_own_cold": ours / med["notebook_cold"]})
            results["metrics"][f"notebook_after_edit_{kind}"] = data
            print(f"{'after edit (' + kind + ')':<22} {ours:>11.3f} s  {max(data['cells_run'])} of {len(PIECES)} cells run"
                  f" (piece {data['piece']}); warm + their cold time = {predicted:.3f} s, ratio {ours / predicted:.2f};"
                  f" {ours / med['notebook_cold']:.2f} of run-notebook's cold run")
        results["metrics"]["team_cache"] = team_cache(exe, work, env, args.repeats)
        real = bench_real_document(exe, work, env, args.repeats)
        results["metrics"].update(real)
        print_real_document(real)
        out = HERE / "results" / "cli_bench.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {out.relative_to(REPO)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
