"""test_reference.py: self-tests of the differential test's judge: reference.R's composites are exactly what R prints, fresh runs share nothing, and the probe neither changes nor misses state.
Knows the oracle (oracle.py, reference.R, probe.R) and R's console; must not know about the kernel or ripple's engine.

Run: /usr/bin/python3 -m pytest -q tests/engine/test_reference.py
"""

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generator import (TEMPLATES, Context, rng_valid, t_error, t_function_call,  # noqa: E402
                       t_mass_use, t_numbers, t_print, t_rng_draw, t_warning)
from oracle import (OracleError, decode_records, encode_records, extract_probe,  # noqa: E402
                    probe_code, run_reference)


def composites(*codes):
    ref = run_reference([(f"c{i}", code) for i, code in enumerate(codes)])
    return [ref.composites[f"c{i}"] for i in range(len(codes))]


def one(code):
    return composites(code)[0]


# ---- composites: exact text per the composite rules ----

@pytest.mark.parametrize("code, expected", [
    ("x <- 1; x", "[1] 1\n"),
    ("x <- 1", ""),
    ("invisible(5)", ""),
    ("(x <- 3)", "[1] 3\n"),
    ("print(1:3)", "[1] 1 2 3\n"),
    ('message("m")', "m\n"),
    ('message("a ", 1, "b")', "a 1b\n"),
    ('cat("no newline")', "no newline"),
    ('cat("a"); message("b"); cat("c\\n")', "ab\nc\n"),
    ('stop("boom")', "Error: boom\n"),
    ('warning("w")', "Warning message:\nw\n"),
    ('w <- as.integer("q")', "Warning message:\nNAs introduced by coercion\n"),
    ("x <- sqrt(-1)", "Warning message:\nIn sqrt(-1) : NaNs produced\n"),
    ("log(-1)", "Warning message:\nIn log(-1) : NaNs produced\n[1] NaN\n"),
    ("rm(nothere)", "Warning message:\nIn rm(nothere) : object 'nothere' not found\n"),
    ('log("a")', 'Error in log("a") : non-numeric argument to mathematical function\n'),
    ("nothere + 1", "Error: object 'nothere' not found\n"),
    ("print(nothere)", "Error in print(nothere) : object 'nothere' not found\n"),
    ('f <- function() stop("in f")\nf()', "Error in f() : in f\n"),
    ('g <- function() warning("wg")\ny <- g()', "Warning message:\nIn g() : wg\n"),
    ("names(v) <- c(\"a\")", "Error in names(v) <- c(\"a\") : object 'v' not found\n"),
    ("l$a <- 5", "Error in l$a <- 5 : object 'l' not found\n"),
    ("fractions(0.25)", 'Error in fractions(0.25) : could not find function "fractions"\n'),
    ("df$a", "Error in df$a : object of type 'closure' is not subsettable\n"),
    ('print(1)\nstop("x")\nprint(2)', "[1] 1\nError: x\n"),
    ("options(digits = 3)\npi", "[1] 3.14\n"),
    ("options(scipen = -3)\n1e5", "[1] 1e+05\n"),
    ('options(OutDec = ",")\n1.5', "[1] 1,5\n"),
    ("set.seed(1); runif(1)", "[1] 0.2655087\n"),
    ("library(MASS)\nfractions(0.25)", "[1] 1/4\n"),
    ("MASS::fractions(0.75)", "[1] 3/4\n"),
    ("ginv(matrix(c(2, 0, 0, 4), 2))", 'Error in ginv(matrix(c(2, 0, 0, 4), 2)) : could not find function "ginv"\n'),
    ('cat("\u00e9 \u21bb\\n")', "\u00e9 \u21bb\n"),
    ("df <- data.frame(a = 1:3, b = letters[1:3])\ndf <- df[df$a > 1, ]\ndf",
     "  a b\n2 2 b\n3 3 c\n"),
    ('l <- list(a = 1, b = "s")\nstr(l)', 'List of 2\n $ a: num 1\n $ b: chr "s"\n'),
    ("", ""),
    ("# only a comment", ""),
])
def test_composite(code, expected):
    assert one(code) == expected


def test_error_flag_and_later_cells_still_run():
    ref = run_reference([("a", 'stop("x")'), ("b", "1"), ("c", "y <- 1; stop('z'); y <- 2"),
                         ("d", "y")])
    assert ref.errors == {"a": True, "b": False, "c": True, "d": False}
    assert ref.composites == {"a": "Error: x\n", "b": "[1] 1\n", "c": "Error: z\n",
                              "d": "[1] 1\n"}


def test_name_defined_below_fails_like_a_fresh_run():
    assert composites("z + 1", "z <- 2", "z") == ["Error: object 'z' not found\n", "", "[1] 2\n"]


def test_redefinitions_and_replacement_functions_in_order():
    got = composites("x <- 1", "x <- x + 1", "v <- c(1, 2, 3)\nv[2] <- 10", "x\nv",
                     'names(v) <- c("a", "b", "c")\nattr(v, "u") <- "m"\nv')
    assert got == ["", "", "", "[1] 2\n[1]  1 10  3\n", ' a  b  c \n 1 10  3 \nattr(,"u")\n[1] "m"\n']


def test_each_run_is_fresh():
    assert one("library(MASS)\nx <- 1\nset.seed(3)") == ""
    ref = run_reference([("a", 'exists("x")\n"package:MASS" %in% search()\nexists(".Random.seed")')],
                        probe_code())
    assert ref.composites["a"] == "[1] FALSE\n[1] FALSE\n[1] FALSE\n"
    assert "binding" not in ref.probe
    assert ".Random.seed absent" in ref.probe


# ---- the probe ----

def test_probe_changes_nothing_and_draws_nothing():
    probe = probe_code()
    got = composites("set.seed(1)\nx <- 1", probe, "cat(ls(all.names = TRUE), sep = ' ')",
                     "runif(1)")
    assert extract_probe(got[1]) is not None
    assert got[2] == ".Random.seed x"
    assert got[3] == "[1] 0.2655087\n"


def test_probe_renders_values_attributes_functions_rng_search_options():
    ref = run_reference([
        ("a", 'v <- c(1, 2)\nnames(v) <- c("a", "b")\nattr(v, "u") <- "m"'),
        ("b", "f <- function(a) {\n  # a comment\n  a + k\n}\ni <- 2L\nn <- 1/3"),
        ("c", "library(MASS)\noptions(digits = 4, scipen = 2)\nset.seed(5)"),
    ], probe_code())
    lines = ref.probe.split("\n")
    assert 'binding v = double structure(c(a = 1, b = 2), u = "m")' in lines
    assert "binding f = function[global] function (a)  {     a + k }" in lines
    assert "binding i = integer 2L" in lines
    assert "binding n = double 0.33333333333333331" in lines
    assert [l for l in lines if l.startswith("binding")] == sorted(
        l for l in lines if l.startswith("binding"))
    assert any(l.startswith(".Random.seed length 626 head 10403,624,") for l in lines)
    assert "search .GlobalEnv package:MASS package:stats" in ref.probe
    assert "option digits = 4L" in lines and "option scipen = 2" in lines


def test_probe_distinguishes_rng_states():
    a = run_reference([("a", "set.seed(1)")], probe_code()).probe
    b = run_reference([("a", "set.seed(1); runif(1)")], probe_code()).probe
    c = run_reference([("a", "set.seed(2)")], probe_code()).probe
    seeds = [[l for l in p.split("\n") if l.startswith(".Random.seed")][0] for p in (a, b, c)]
    assert len(set(seeds)) == 3


# ---- the format between Python and reference.R ----

def test_records_round_trip():
    recs = [("cell", "a"), ("code", ""), ("code", "x\n\n"), ("probe", "\u21bb \u00e9\r\nz")]
    assert decode_records(encode_records(recs)) == recs


def test_reference_failure_is_reported():
    with pytest.raises(OracleError):
        run_reference([("a", "quit(status = 3)")])


def test_parse_error_is_a_cell_error_not_a_crash():
    ref = run_reference([("a", "x <- "), ("b", "1")])
    assert ref.errors["a"] and ref.composites["b"] == "[1] 1\n"


# ---- against R's own console: the judge agrees with what R prints ----

SEPARATOR = 'cat("<<sep>>\\n")'


def repl_outputs(statements):
    """Each single-line statement's console output in one interactive R session (a separator
    statement after each one splits the transcript, even after output without a newline)."""
    script = "".join(s + "\n" + SEPARATOR + "\n" for s in statements)
    proc = subprocess.run(["R", "--vanilla", "--no-echo", "--interactive"], input=script.encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    text = proc.stdout.decode("utf-8")
    chunks = text.split(SEPARATOR + "\n<<sep>>\n")
    assert len(chunks) == len(statements) + 1 and chunks[-1] == "", text[-500:]
    outs = []
    for stmt, chunk in zip(statements, chunks):
        echo = stmt + "\n"
        assert chunk.startswith(echo), f"echo of {stmt!r} not found in {chunk[:200]!r}"
        outs.append(chunk[len(echo):])
    # R's console ends a warning without a call with "message \n"; the composite has no space.
    return [re.sub(r"(Warning message:\n(?!In )[^\n]*) \n", r"\1\n", o) for o in outs]


CONSOLE_STATEMENTS = [
    "x <- 1", "x", "y <- x + 1", "print(y)", 'message("m ", y)', 'cat("a", y, "\\n")',
    'stop("boom")', "nothere + 1", "print(nothere)", 'warning("careful")',
    'w <- as.integer("q")', "w <- sqrt(-1)", "rm(q1)", 'log("a")',
    'f <- function(a) a + k', "f(1)", "k <- 2", "f(1)", 'names(v) <- c("a", "b")',
    "v <- c(1, 2, 3)", "v[2] <- 10", 'names(v) <- c("a", "b", "c")', 'attr(v, "u") <- "m"', "v",
    "l$a <- 1", 'l <- list(a = 1, b = "s")', "l$c <- 3", "str(l)", "l",
    "df <- data.frame(a = 1:4, b = letters[1:4])", "df <- df[df$a > 1, ]", "df",
    "df$c <- df$a * 2", "nrow(df)", "options(digits = 3)", "pi * 100", "1 / 7",
    "options(scipen = -2)", "123456", "options(digits = 7, scipen = 0)", "set.seed(42)",
    "sample(10, 3)", "round(rnorm(2), 3)", "fractions(0.25)", "library(MASS)",
    "fractions(0.25)", "ginv(matrix(c(2, 0, 0, 4), 2))", "MASS::fractions(0.75)",
    'options(OutDec = ",")', "c(1.5, 2.25)", 'options(OutDec = ".")', "(z <- 5)",
    'g <- function() warning("wg")', "y <- g()",
]


def test_console_agrees_on_handwritten_statements():
    ref = composites(*CONSOLE_STATEMENTS)
    repl = repl_outputs(CONSOLE_STATEMENTS)
    for stmt, got, want in zip(CONSOLE_STATEMENTS, ref, repl):
        assert got == want, f"{stmt!r}: oracle {got!r}, R console {want!r}"


def test_console_agrees_on_generator_statements():
    """Every template of the generator, sampled: the oracle matches R's console statement by
    statement (a statement per cell), so the differential test judges R's real output."""
    rng = random.Random(20240611)
    stmts = ["x <- 2", "k <- 3", "set.seed(9)"]
    ctx = Context(rng, defined={"x", "k"})
    output_templates = [t_print, t_numbers, t_mass_use, t_warning, t_error, t_function_call,
                        t_rng_draw]
    for _ in range(6):
        for fn in [t for t, _w, _needs, _mass in TEMPLATES] + output_templates * 2:
            stmt = fn(ctx)
            if stmt not in stmts[-1:]:
                stmts.append(stmt)
    assert rng_valid(stmts)
    ref = composites(*stmts)
    repl = repl_outputs(stmts)
    for stmt, got, want in zip(stmts, ref, repl):
        assert got == want, f"{stmt!r}: oracle {got!r}, R console {want!r}"


UNBOUND_STATEMENTS = [
    "df$c <- df$a * 7", "df <- df[df$a != 4, ]", "nrow(df)", "df[df$a > 0, ]",
    'message("x is ", zz)', 'l[["a"]] <- l$a * 2', "str(l)", 'names(v) <- c("a", "b", "c")',
    'attr(v, "u") <- "gamma"', "v[2] <- 10", "v <- rev(v)", "m <- ginv(diag(2) * x)",
    'cat("no newline", zzz)', "y <- g(4)", "g <- function(n) f(n) * 2", "y <- g(4)",
    "f <- function(a) a + kk", "y <- g(4)", "x <- 1", "fractions(x / 4)", "r <- r + runif(1)",
    "x <- x + 1", "rm(x)", "x", "f(nothere)", 'stop("bad ", x)',
]


def test_console_agrees_on_errors_of_unbound_names():
    ref = composites(*UNBOUND_STATEMENTS)
    repl = repl_outputs(UNBOUND_STATEMENTS)
    for stmt, got, want in zip(UNBOUND_STATEMENTS, ref, repl):
        assert got == want, f"{stmt!r}: oracle {got!r}, R console {want!r}"
