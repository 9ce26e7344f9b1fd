"""The parity corpus: R Markdown vignettes that Debian's r-cran-* packages ship (nobody here wrote them), each rendered
by run-notebook (--to md, no cache) and by rmarkdown::render (md_document, the .knit.md knitr wrote before pandoc), and
compared chunk for chunk: every fenced block (source and output) in order, the text between them, and the number of
figures. Both renderers start from the same seed (set.seed(2026) in an R_PROFILE_USER both R sessions read), so that
documents that draw random numbers without set.seed() compare too, and memory addresses (0x55d0...) are masked. A
document listed in KNOWN_DIFFERENCES is expected to differ, for the reason given there (README, "R Markdown"); any
other difference fails.

Run: RIPPLE_BUILD_DIR=build /usr/bin/python3 tests/cli/rmd_corpus.py [--all] [NAME ...]
(ctest: cli.rmd_corpus runs CI_SUBSET; bench/ runs --all.)
"""

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SITE = Path("/usr/lib/R/site-library")

# package/doc/name.Rmd under SITE. Chosen for running offline, in seconds, with packages setup.sh installs.
CORPUS = [
    "knitr/doc/knit_print.Rmd",
    "knitr/doc/knit_expand.Rmd",
    "knitr/doc/datatables.Rmd",
    "knitr/doc/docco-linear.Rmd",
    "knitr/doc/knitr-markdown.Rmd",
    "magrittr/doc/magrittr.Rmd",
    "tibble/doc/types.Rmd",
    "tibble/doc/digits.Rmd",
    "pillar/doc/printing.Rmd",
    "pillar/doc/digits.Rmd",
    "dplyr/doc/dplyr.Rmd",
    "dplyr/doc/grouping.Rmd",
    "dplyr/doc/window-functions.Rmd",
    "dplyr/doc/colwise.Rmd",
    "stringr/doc/stringr.Rmd",
    "stringr/doc/regular-expressions.Rmd",
    "glue/doc/transformers.Rmd",
    "jsonlite/doc/json-aaquickstart.Rmd",
    "data.table/doc/datatable-reshape.Rmd",
    "lifecycle/doc/stages.Rmd",
    "withr/doc/changing-and-restoring-state.Rmd",
    "lazyeval/doc/lazyeval.Rmd",
    "lifecycle/doc/communicate.Rmd",
    "magrittr/doc/tradeoffs.Rmd",
    "tibble/doc/numbers.Rmd",
    "tibble/doc/formats.Rmd",
    "tibble/doc/invariants.Rmd",
    "tidyselect/doc/syntax.Rmd",
    "readr/doc/locales.Rmd",
    "bit/doc/bit-usage.Rmd",
]
# Left out because rmarkdown::render itself fails on them here (data or packages Debian does not ship):
# tibble/doc/tibble.Rmd, dplyr/doc/two-table.Rmd (nycflights13), dplyr/doc/rowwise.Rmd, xfun/doc/xfun.Rmd (testit),
# data.table/doc/datatable-intro.Rmd (flights data), vctrs/doc/s3-vector.Rmd (zeallot), vctrs/doc/type-size.Rmd and
# vctrs/doc/stability.Rmd (zeallot).

# Documents that differ from rmarkdown::render, and why (the README lists them too).
KNOWN_DIFFERENCES = {
    "tibble/doc/types.Rmd": "prints the clock (Sys.time(), to the second) in a glimpse() of every column type",
    "knitr/doc/knit_print.Rmd": "prints methods(knit_print), which lists the methods of the namespaces loaded in the "
                                "session: rmarkdown::render's has loaded rmarkdown, htmltools and dplyr's methods "
                                "(grouped_df, html, shiny.tag, tbl_sql, ...), run-notebook's only knitr's",
}

# The ctest subset (about a minute); --all runs every document.
CI_SUBSET = [
    "knitr/doc/knit_print.Rmd",
    "magrittr/doc/magrittr.Rmd",
    "tibble/doc/digits.Rmd",
    "dplyr/doc/grouping.Rmd",
    "stringr/doc/stringr.Rmd",
]


def body_of(markdown):
    """The Markdown without its YAML header, as blocks: fenced blocks whole, text paragraphs, blank lines dropped."""
    text = re.sub(r"\A---\n.*?\n---\n", "", markdown, count=1, flags=re.S)
    blocks, fence, current = [], None, []
    for line in text.splitlines():
        if fence is None and re.match(r"^(`{3,}|~{3,})", line):
            if current:
                blocks.append("\n".join(current))
            current, fence = [line], re.match(r"^(`{3,}|~{3,})", line).group(1)
            continue
        if fence is not None:
            current.append(line.rstrip())
            if line.strip() == fence:
                blocks.append("\n".join(current))
                current, fence = [], None
            continue
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def masked(markdown):
    return re.sub(r"0x[0-9a-f]{6,}", "0x...", markdown)


def figures_in(markdown):
    return len(re.findall(r"!\[[^\]]*\]\(|<img ", markdown))


def render_both(source, work, build_dir):
    ours_dir, theirs_dir = work / "ours", work / "theirs"
    for folder in (ours_dir, theirs_dir):
        shutil.copytree(source.parent, folder, ignore=shutil.ignore_patterns("*.html", "*.pdf", "*.R"))
    doc = source.name
    profile = work / "seed.R"
    profile.write_text("set.seed(2026)\n")
    env = dict(os.environ, R_PROFILE_USER=str(profile))
    started = time.monotonic()
    ours = subprocess.run([str(build_dir / "bin" / "run-notebook"), doc, "--to", "md", "--no-cache", "-q"],
                          cwd=ours_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300,
                          env=env)
    ours_s = time.monotonic() - started
    started = time.monotonic()
    theirs = subprocess.run(["Rscript", "-e", f'rmarkdown::render("{doc}", output_format = rmarkdown::md_document(), '
                             'quiet = TRUE, clean = FALSE)'], cwd=theirs_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=300, env=env)
    theirs_s = time.monotonic() - started
    knit_md = theirs_dir / (Path(doc).stem + ".knit.md")
    result = {"ours_s": ours_s, "theirs_s": theirs_s}
    if ours.returncode != 0:
        result["problem"] = "run-notebook failed: " + (ours.stderr.strip().splitlines() or ["?"])[-1]
    if theirs.returncode != 0 or not knit_md.exists():
        result["problem"] = "rmarkdown::render failed: " + (theirs.stderr.strip().splitlines() or ["?"])[-1]
    if "problem" in result:
        return result
    mine = masked((ours_dir / (Path(doc).stem + ".md")).read_text())
    theirs_md = masked(knit_md.read_text())
    a, b = body_of(mine), body_of(theirs_md)
    result["blocks"] = len(b)
    result["figures"] = (figures_in(mine), figures_in(theirs_md))
    if a != b:
        diff = list(difflib.unified_diff(b, a, "rmarkdown", "run-notebook", n=0, lineterm=""))
        result["problem"] = "blocks differ:\n" + "\n".join(diff[:12])
    elif result["figures"][0] != result["figures"][1]:
        result["problem"] = f"figure counts differ: {result['figures']}"
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--all", action="store_true")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    build_dir = Path(os.environ.get("RIPPLE_BUILD_DIR", "build")).resolve()
    names = args.names or (CORPUS if args.all else CI_SUBSET)
    failures, total_ours, total_theirs = 0, 0.0, 0.0
    for name in names:
        source = SITE / name
        if not source.exists():
            print(f"MISSING  {name}: not installed (scripts/setup.sh)")
            failures += 1
            continue
        with tempfile.TemporaryDirectory(prefix="rmd-corpus-") as tmp:
            result = render_both(source, Path(tmp), build_dir)
        total_ours += result["ours_s"]
        total_theirs += result["theirs_s"]
        timing = f"{result['ours_s']:.1f} s vs {result['theirs_s']:.1f} s"
        if "problem" not in result:
            print(f"SAME     {name}: {result['blocks']} blocks, {result['figures'][0]} figures ({timing})")
        elif name in KNOWN_DIFFERENCES:
            print(f"KNOWN    {name}: {KNOWN_DIFFERENCES[name]} ({timing})")
        else:
            failures += 1
            print(f"DIFFERS  {name} ({timing}): {result['problem']}")
    print(f"{len(names) - failures} of {len(names)} documents as expected; "
          f"run-notebook {total_ours:.1f} s, rmarkdown::render {total_theirs:.1f} s in all")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
