"""run-notebook DOC.Rmd end to end: chunk text outputs and figure counts equal rmarkdown::render's (Debian's
r-cran-rmarkdown) chunk for chunk; Markdown and pandoc HTML (self-contained too); params; chunk options; errors
that name the line; timeouts; reports; unchanged chunks served from the persistent cache, `why` for a document.
Every test has its own cache directory (conftest.py).

Run: RIPPLE_BUILD_DIR=build /usr/bin/python3 -m pytest -q tests/cli/test_rmd.py
"""

import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_env import REPO_ROOT, run  # noqa: E402

RMD_DIR = Path(__file__).resolve().parent / "rmd"


def sections(markdown, ours):
    """Per "Chunk: label" section: output lines (knitr's "## " blocks), figure count, whether source is shown.

    run-notebook writes output in ``` blocks (and, with collapse, commented lines in ```r blocks); pandoc's
    markdown writer (rmarkdown's md_document) indents output blocks by four spaces and fences source as ``` r.
    """
    found, current, fence = {}, None, None
    for line in markdown.splitlines():
        match = re.match(r"^Chunk: (\S+)$", line)
        if match and fence is None:
            current = match.group(1)
            found[current] = {"lines": [], "figures": 0, "source": False}
            continue
        if current is None:
            continue
        if line.startswith("```"):
            if fence is None:
                fence = line[3:].strip()
                if fence == "r":
                    found[current]["source"] = True
            else:
                fence = None
            continue
        if fence is None and "![" in line:
            found[current]["figures"] += 1
        if fence is not None:
            if fence == "" or (fence == "r" and re.match(r"^(##|#>|%%)( |$)", line)):
                found[current]["lines"].append(line.rstrip())
        elif not ours and line.startswith("    "):
            found[current]["lines"].append(line[4:].rstrip())
    return found


def render_with_rmarkdown(doc, out_name, params=None):
    call = (f'rmarkdown::render("{doc.name}", output_format = rmarkdown::md_document(variant = "markdown"), '
            f'output_file = "{out_name}", quiet = TRUE'
            + (f", params = list({params})" if params else "") + ")")
    subprocess.run(["Rscript", "-e", call], cwd=doc.parent, check=True, timeout=120,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return (doc.parent / out_name).read_text()


@pytest.mark.parametrize("name, ours_params, their_params", [
    ("compare.Rmd", [], None),
    ("compare.Rmd", ["-p", "n", "5", "-p", "label", '"five"'], 'n = 5, label = "five"'),
    ("options.Rmd", [], None),
])
def test_chunk_outputs_match_rmarkdown_render(tmp_path, name, ours_params, their_params):
    doc = tmp_path / name
    shutil.copy(RMD_DIR / name, doc)
    run([doc, "--to", "md", "-o", tmp_path / "ours.md"] + ours_params, check_rc=0)
    ours = sections((tmp_path / "ours.md").read_text(), ours=True)
    theirs = sections(render_with_rmarkdown(doc, "theirs.md", their_params), ours=False)
    assert list(ours) == list(theirs)
    assert len(ours) >= 5
    for label in ours:
        assert ours[label] == theirs[label], f"chunk {label}: run-notebook {ours[label]} vs rmarkdown {theirs[label]}"
    figures = sum(s["figures"] for s in ours.values())
    assert figures == sum(s["figures"] for s in theirs.values())
    if name == "compare.Rmd":
        assert figures == 3


def test_example_report_as_markdown_with_figures_and_inline_values(tmp_path):
    doc = tmp_path / "report.Rmd"
    shutil.copy(REPO_ROOT / "examples" / "report.Rmd", doc)
    proc = run([doc, "--to", "md"], check_rc=0)
    md = (tmp_path / "report.md").read_text()
    assert md.startswith('---\ntitle: "Fuel economy by cylinders"\nauthor: "ripple examples"\ndate: "15 January 2026"\n---\n')
    assert "This report looks at the 32 cars" in md and "There are 7 cars with 6 cylinders" in md
    assert "`r " not in md
    assert "```r\nsummary(picked$mpg)\n```" in md and "##    Min. 1st Qu." in md
    # As rmarkdown's md_document: knitr's fig.path is DOC_files/figure-markdown_strict/.
    assert "![Fuel economy falls with weight.](report_files/figure-markdown_strict/mpg-weight-1.png)" in md
    assert (tmp_path / "report_files" / "figure-markdown_strict" / "mpg-weight-1.png").read_bytes()[:8] == \
        b"\x89PNG\r\n\x1a\n"
    assert "knitr::opts_chunk" not in md  # include=FALSE
    assert "```bash\necho \"not run by run-notebook\"\n```" in md
    assert "bash chunk unnamed-chunk-1 is shown, not run" in proc.stderr
    assert "## only 7 cars: read the model with care" in md


def test_printing_widgets_and_browsable_tags_opens_no_browser(tmp_path):
    """print() of an htmlwidget or of browsable tags calls the viewer or browser in an interactive R; never here."""
    marker = tmp_path / "opened.txt"
    doc = tmp_path / "widgets.Rmd"
    doc.write_text("---\ntitle: widgets\n---\n\n```{r}\n"
                   f"options(browser = function(url, ...) cat(url, '\\n', file = '{marker}', append = TRUE))\n"
                   "print(DT::datatable(head(cars)))\n"
                   "print(htmltools::browsable(htmltools::tags$p('printed browsable')))\n```\n")
    run([doc, "--to", "md", "--no-cache"], check_rc=0)
    assert not marker.exists(), f"a browser was called: {marker.read_text()}"
    md = (tmp_path / "widgets.md").read_text()
    assert "## <p>printed browsable</p>" in md, md


def test_html_by_pandoc_and_self_contained(tmp_path):
    doc = tmp_path / "report.Rmd"
    shutil.copy(REPO_ROOT / "examples" / "report.Rmd", doc)
    run([doc, "--to", "html", "-q"], check_rc=0)
    html = (tmp_path / "report.html").read_text()
    assert "<title>Fuel economy by cylinders</title>" in html
    assert 'src="report_files/figure-html/mpg-weight-1.png"' in html
    assert (tmp_path / "report_files" / "figure-html" / "mpg-weight-1.png").exists()
    run([doc, "--self-contained", "-o", tmp_path / "alone.html", "-q"], check_rc=0)
    alone = (tmp_path / "alone.html").read_text()
    assert "data:image/png;base64," in alone and "alone_files" not in alone
    assert not (tmp_path / "alone_files").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.html", "report.Rmd", "report.html", "report_files"]


def test_output_elsewhere_keeps_figure_links_relative_to_it(tmp_path):
    (tmp_path / "out").mkdir()
    doc = tmp_path / "doc.Rmd"
    doc.write_text("```{r pic}\nplot(1:3)\n```\n")
    run([doc, "-o", tmp_path / "out" / "page.md"], check_rc=0)
    assert "![](page_files/figure-markdown_strict/pic-1.png)" in (tmp_path / "out" / "page.md").read_text()
    assert (tmp_path / "out" / "page_files" / "figure-markdown_strict" / "pic-1.png").exists()


def test_params_are_overridden_by_p_and_undeclared_ones_refused(tmp_path):
    doc = tmp_path / "report.Rmd"
    shutil.copy(REPO_ROOT / "examples" / "report.Rmd", doc)
    run([doc, "--to", "md", "-p", "cylinders", "4", "-p", "show_model", "FALSE"], check_rc=0)
    md = (tmp_path / "report.md").read_text()
    assert "There are 11 cars with 4 cylinders" in md
    assert "coef(fit)" in md and "(Intercept)" not in md  # eval = params$show_model
    proc = run([doc, "--to", "md", "-p", "colour", '"red"'], check_rc=2)
    assert "declares no parameter colour" in proc.stderr


def test_chunk_options_size_figures(tmp_path):
    doc = tmp_path / "sizes.Rmd"
    doc.write_text("```{r small, fig.width=4, fig.height=3, dpi=50}\nplot(1)\n```\n\n"
                   "```{r default}\nplot(1)\n```\n")
    run([doc, "--to", "md"], check_rc=0)

    def png_size(path):
        header = path.read_bytes()[16:24]
        return struct.unpack(">II", header)

    figures = tmp_path / "sizes_files" / "figure-markdown_strict"
    assert png_size(figures / "small-1.png") == (200, 150)
    assert png_size(figures / "default-1.png") == (672, 480)  # rmarkdown's 7 x 5 in, at 96 dpi


def test_a_failing_chunk_stops_the_render_naming_label_line_and_error(tmp_path):
    doc = tmp_path / "doc.Rmd"
    doc.write_text("---\ntitle: t\n---\n\n```{r fine}\n1\n```\n\nText.\n\n```{r bad}\nh <- function() stop('kaput')\nh()\n```\n")
    (tmp_path / "doc.md").write_text("old render\n")
    proc = run([doc, "--to", "md"], check_rc=1)
    assert "doc.Rmd line 11: chunk bad failed: kaput." in proc.stderr
    assert "Error in h(): kaput" in proc.stderr and "nothing was written" in proc.stderr  # knitr's wording
    assert (tmp_path / "doc.md").read_text() == "old render\n"


def test_an_inline_error_names_its_line(tmp_path):
    doc = tmp_path / "doc.Rmd"
    doc.write_text("Line one.\n\nValue: `r no_such_thing + 1`.\n")
    proc = run([doc, "--to", "md"], check_rc=1)
    assert "doc.Rmd line 3: the inline R code `r no_such_thing + 1` failed" in proc.stderr
    assert "object 'no_such_thing' not found" in proc.stderr


@pytest.mark.parametrize("text, expected", [
    ("---\ntitle: x\n\nbody\n", "doc.Rmd line 1: the YAML header is never closed"),
    ("---\ntitle: x\n  bad: indent\n---\n", "doc.Rmd line 3: the YAML header is malformed"),
    ("---\ntitle: \"unclosed\nauthor: x\n---\n", "doc.Rmd line 2: the YAML header is malformed: while scanning a quoted"),
    ("---\ntitle: x\nparams:\n  n: [1, 2\n---\n", "doc.Rmd line 4: the YAML header is malformed"),
    ("intro\n\n```{r open}\nx <- 1\n", "doc.Rmd line 3: the chunk {r open} is never closed"),
    ("```{r a}\n1\n```\n\n```{r a}\n2\n```\n", "doc.Rmd line 5: the chunk label \"a\" is already used"),
    ("```{r a, echo=maybe}\n1\n```\n", "doc.Rmd line 1"),
    ("```{r a, echo=no_such_value}\n1\n```\n", "doc.Rmd line 1: the option echo = no_such_value of chunk a could not"),
])
def test_malformed_documents_exit_2_with_one_sentence_naming_the_line(tmp_path, text, expected):
    doc = tmp_path / "doc.Rmd"
    doc.write_text(text)
    proc = run([doc, "--to", "md"])
    assert proc.returncode in (1, 2), proc.stderr
    assert expected in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2, proc.stderr
    assert not (tmp_path / "doc.md").exists()


def test_malformed_header_and_unclosed_chunk_are_bad_input(tmp_path):
    doc = tmp_path / "doc.Rmd"
    doc.write_text("```{r a}\n1\n")
    assert run([doc], check_rc=2).stderr.count("\n") == 1


def test_timeout_interrupts_a_chunk_and_exits_3(tmp_path):
    doc = tmp_path / "doc.Rmd"
    doc.write_text("```{r slow}\nSys.sleep(60)\n```\n")
    proc = run([doc, "--to", "md", "--timeout", "1"], check_rc=3, timeout=60)
    assert "chunk slow ran longer than --timeout" in proc.stderr
    assert not (tmp_path / "doc.md").exists()


def test_report_lists_chunks_with_labels_and_lines(tmp_path):
    doc = tmp_path / "compare.Rmd"
    shutil.copy(RMD_DIR / "compare.Rmd", doc)
    run([doc, "--to", "md", "--report", "json", tmp_path / "r.json", "--report", "junit", tmp_path / "r.xml", "-q"],
        check_rc=0)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["kind"] == "rmarkdown" and report["exit_code"] == 0
    by_label = {c["id"]: c for c in report["cells"]}
    assert by_label["vectors"]["line"] == 16 and by_label["vectors"]["status"] == "ok"
    assert by_label["not-evaluated"]["status"] == "skipped"
    assert by_label["failing"]["status"] == "error"  # error=TRUE: shown, the render goes on
    assert "<testsuites" in (tmp_path / "r.xml").read_text()


def test_log_output_shows_chunk_output_only(tmp_path):
    doc = tmp_path / "report.Rmd"
    shutil.copy(REPO_ROOT / "examples" / "report.Rmd", doc)
    proc = run([doc, "--to", "md", "--log-output", "-q"], check_rc=0)
    assert "Min. 1st Qu." in proc.stderr and "(Intercept)" in proc.stderr
    assert "15 January" not in proc.stderr and "list(" not in proc.stderr  # inline values and option queries


CACHED_DOC = """---
title: "Cached"
output: md_document
params:
  n: 4
---

```{r setup, include = FALSE}
knitr::opts_chunk$set(comment = "#>")
```

```{r make-x}
x <- seq_len(params$n)
cat('x\n', file = 'marker.txt', append = TRUE)
```

The sum is `r sum(x)`.

```{r other}
z <- 10
cat('z\n', file = 'marker.txt', append = TRUE)
z
```

```{r pic, fig.width = 4, fig.height = 3}
plot(x)
cat('pic\n', file = 'marker.txt', append = TRUE)
```
"""


def test_unchanged_chunks_come_from_the_cache_and_only_stale_ones_rerun(tmp_path):
    doc = tmp_path / "doc.Rmd"
    doc.write_text(CACHED_DOC)
    cache = tmp_path / "cache"
    marker = tmp_path / "marker.txt"
    figure = tmp_path / "doc_files" / "figure-markdown_strict" / "pic-1.png"
    run([doc, "--cache-dir", cache, "--report", "json", tmp_path / "cold.json", "-q"], check_rc=0)
    cold_md, cold_png = (tmp_path / "doc.md").read_text(), figure.read_bytes()
    assert marker.read_text().split() == ["x", "z", "pic"]
    assert "#> [1] 10" in cold_md and "The sum is 10." in cold_md  # the setup chunk's comment = "#>" took effect
    shutil.rmtree(tmp_path / "doc_files")
    (tmp_path / "doc.md").unlink()
    warm = run([doc, "--cache-dir", cache, "--report", "json", tmp_path / "warm.json"], check_rc=0)
    assert marker.read_text().split() == ["x", "z", "pic"], "unchanged chunks must not run again"
    assert (tmp_path / "doc.md").read_text() == cold_md
    assert figure.read_bytes() == cold_png, "a cached chunk's figure is written again"
    cells = {c["id"]: c["from_cache"] for c in json.loads((tmp_path / "warm.json").read_text())["cells"]}
    # knitr::opts_chunk$set() is carried from chunk to chunk with the chunks' outputs: the setup chunk is served too,
    # and nothing needs R.
    assert cells == {"setup": True, "make-x": True, "other": True, "pic": True}
    assert "(0 run, 4 from the cache, R not started)" in warm.stderr

    doc.write_text(CACHED_DOC.replace("n: 4", "n: 5"))
    why = run(["why", doc, "--cache-dir", cache], check_rc=0).stdout.splitlines()
    verdicts = {line.split(" [")[0]: line.split("]: ", 1)[1] for line in why}
    assert verdicts["params"].startswith("would rerun: code changed"), why
    assert verdicts["make-x"].startswith("would rerun: it reads `params`"), why
    assert verdicts["other"] == "cached" and verdicts["pic"].startswith("would rerun: ")
    assert verdicts["setup"] == "cached", why
    assert run(["why", doc, "other", "--cache-dir", cache], check_rc=0).stdout == "other [z <- 10]: cached\n"
    assert marker.read_text().split() == ["x", "z", "pic"], "why runs nothing"
    run([doc, "--cache-dir", cache, "--report", "json", tmp_path / "edit.json", "-q"], check_rc=0)
    assert marker.read_text().split() == ["x", "z", "pic", "x", "pic"]
    assert "The sum is 15." in (tmp_path / "doc.md").read_text()
    cells = {c["id"]: c["from_cache"] for c in json.loads((tmp_path / "edit.json").read_text())["cells"]}
    assert cells == {"setup": True, "make-x": False, "other": True, "pic": False}


def knitted_sections(markdown):
    """The text after each "Chunk: label" line up to the next one, blank lines squeezed (knitr's Markdown)."""
    found, current = {}, None
    for line in markdown.splitlines():
        match = re.match(r"^Chunk: (\S+)$", line)
        if match:
            current = match.group(1)
            found[current] = []
        elif current is not None and line.strip():
            found[current].append(line.rstrip())
    return found


def knit_md_of_rmarkdown(doc):
    """rmarkdown::render's Markdown as knitr wrote it (the .knit.md that pandoc reads), for md_document."""
    subprocess.run(["Rscript", "-e", f'rmarkdown::render("{doc.name}", output_format = rmarkdown::md_document(), '
                    'quiet = TRUE, clean = FALSE)'], cwd=doc.parent, check=True, timeout=120,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return doc.with_suffix(".knit.md").read_text()


def test_chunks_are_what_knitr_prints_kable_asis_methods_graphics_not_interactive(tmp_path):
    ours_dir, theirs_dir = tmp_path / "ours", tmp_path / "theirs"
    for folder in (ours_dir, theirs_dir):
        folder.mkdir()
        shutil.copy(RMD_DIR / "knitr_output.Rmd", folder / "doc.Rmd")
    run([ours_dir / "doc.Rmd", "--to", "md", "--cache-dir", tmp_path / "cache"], check_rc=0)
    ours = knitted_sections((ours_dir / "doc.md").read_text())
    theirs = knitted_sections(knit_md_of_rmarkdown(theirs_dir / "doc.Rmd"))
    assert list(ours) == list(theirs) and len(ours) == 9
    for label in ours:
        assert ours[label] == theirs[label], f"chunk {label}:\n" + "\n".join(ours[label]) + "\n---\n" + \
            "\n".join(theirs[label])
    text = {label: "\n".join(lines) for label, lines in ours.items()}
    assert "|:-------------|----:|---:|----:|" in text["kable"] and "## |" not in text["kable"]
    assert "**bold from cat**" in text["asis"] and "#> **bold" not in text["asis"]
    assert "#> [1] FALSE" in text["interactive"]  # knitr renders with interactive() FALSE
    assert "print(n = ...)" not in text["tibble"] and "#> # A tibble: 30 × 2" in text["tibble"]
    assert "**$12.50**" in text["method"]  # a knit_print method registered by the document
    assert 'src="/usr/share/R/doc/html/logo.jpg"' in text["graphics"] or "logo.jpg" in text["graphics"]
    # evaluate's interleaving: each expression's output follows it.
    assert text["interleaved"].index("#> [1] 1") < text["interleaved"].index("b <- a + 1")

    # Served from the cache without R: the same Markdown.
    first = (ours_dir / "doc.md").read_text()
    (ours_dir / "doc.md").unlink()
    warm = run([ours_dir / "doc.Rmd", "--to", "md", "--cache-dir", tmp_path / "cache"], check_rc=0)
    assert "R not started" in warm.stderr and (ours_dir / "doc.md").read_text() == first


def test_htmlwidgets_in_html_carry_their_dependencies_also_from_the_cache(tmp_path):
    doc = tmp_path / "widget.Rmd"
    doc.write_text("---\ntitle: widget\noutput: html_document\n---\n\n```{r table}\n"
                   "DT::datatable(head(iris), options = list(pageLength = 3))\n```\n")
    cache = tmp_path / "cache"
    run([doc, "--cache-dir", cache, "-q"], check_rc=0)
    html = (tmp_path / "widget.html").read_text()
    head, body = html.split("</head>", 1)
    assert 'class="datatables html-widget' in body and '"pageLength":3' in body
    assert "HTMLWidgets" in head and "DataTable" in head, "the widget's libraries go into the page's head"
    assert "&lt;datatables htmlwidget&gt;" not in html and "## <datatables" not in html
    (tmp_path / "widget.html").unlink()
    warm = run([doc, "--cache-dir", cache], check_rc=0)
    assert "R not started" in warm.stderr
    assert (tmp_path / "widget.html").read_text() == html


def test_interactive_is_false_while_rendering_inline_too(tmp_path):
    doc = tmp_path / "doc.Rmd"
    doc.write_text("Inline: `r interactive()`.\n\n```{r}\nif (interactive()) 'interactive' else 'batch'\n```\n")
    run([doc, "--to", "md", "--no-cache"], check_rc=0)
    md = (tmp_path / "doc.md").read_text()
    assert "Inline: FALSE." in md and '## [1] "batch"' in md


REAL_DOC = """---
title: "A real document"
output: html_document
---

```{r setup, include = FALSE}
knitr::opts_chunk$set(echo = TRUE, fig.width = 5)
library(MASS)
cat('setup\\n', file = 'marker.txt', append = TRUE)
```

```{r load}
library(stats)
library(tibble)
cars2 <- as_tibble(mtcars)
total <- sum(cars2$mpg)
cat('load\\n', file = 'marker.txt', append = TRUE)
```

```{r model}
fit <- lm(mpg ~ wt, data = cars2)
cat('model\\n', file = 'marker.txt', append = TRUE)
coef(fit)
```

```{r groups}
suppressPackageStartupMessages(library(dplyr))
by_cyl <- cars2 %>% group_by(cyl) %>% summarise(mpg = mean(mpg))
cat('groups\\n', file = 'marker.txt', append = TRUE)
by_cyl
```

```{r plot}
cat('plot\\n', file = 'marker.txt', append = TRUE)
plot(mpg ~ wt, data = cars2)
```

```{r last}
cat('last\\n', file = 'marker.txt', append = TRUE)
round(summary(fit)$r.squared, 3)
```
"""


def test_a_real_document_with_setup_and_library_chunks_is_served_whole_and_one_edit_reruns_one_chunk(tmp_path):
    doc = tmp_path / "real.Rmd"
    doc.write_text(REAL_DOC)
    cache, marker = tmp_path / "cache", tmp_path / "marker.txt"
    run([doc, "--to", "md", "--cache-dir", cache, "-q"], check_rc=0)
    cold = (tmp_path / "real.md").read_text()
    assert marker.read_text().split() == ["setup", "load", "model", "groups", "plot", "last"]
    warm = run([doc, "--to", "md", "--cache-dir", cache, "--report", "json", tmp_path / "warm.json"], check_rc=0)
    assert "(0 run, 6 from the cache, R not started)" in warm.stderr
    assert (tmp_path / "real.md").read_text() == cold
    assert marker.read_text().split() == ["setup", "load", "model", "groups", "plot", "last"]

    doc.write_text(REAL_DOC.replace("round(summary(fit)$r.squared, 3)", "round(summary(fit)$r.squared, 2)"))
    why = run(["why", doc, "--cache-dir", cache], check_rc=0).stdout.splitlines()
    verdicts = {line.split(" [")[0]: line.split("]: ", 1)[1] for line in why}
    assert {k: v for k, v in verdicts.items() if k != "last"} == {
        "setup": "cached", "load": "cached", "model": "cached", "groups": "cached", "plot": "cached"}, why
    assert verdicts["last"].startswith("would rerun: code changed"), why
    edit = run([doc, "--to", "md", "--cache-dir", cache, "--report", "json", tmp_path / "edit.json"], check_rc=0)
    assert "(1 run, 5 from the cache, R started in " in edit.stderr
    assert marker.read_text().split() == ["setup", "load", "model", "groups", "plot", "last", "last"]
    edited = (tmp_path / "real.md").read_text()
    assert edited.split("```r\ncat('last")[0] == cold.split("```r\ncat('last")[0]
    # The setup chunk's options reach every chunk, served or run: echo = TRUE and fig.width = 5 (480 px at 96 dpi).
    assert "```r\ncat('last\\n', file" in edited
    png = (tmp_path / "real_files" / "figure-markdown_strict" / "plot-1.png").read_bytes()
    assert struct.unpack(">II", png[16:24]) == (480, 480)
