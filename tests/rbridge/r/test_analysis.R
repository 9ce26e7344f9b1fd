# test_analysis.R: checks of the static cell analysis in the ripple R package (analysis.R):
# .analyze_cell, .closure_uses. Plain R, no test framework; knows nothing of C++.

library(ripple, lib.loc = Sys.getenv("RIPPLE_R_LIBRARY"))

analyze <- ripple:::.analyze_cell
closure_uses <- ripple:::.closure_uses

checks <- 0L
failures <- 0L

check <- function(name, got, expected) {
  checks <<- checks + 1L
  if (identical(got, expected)) {
    cat("PASS", name, "\n")
  } else {
    failures <<- failures + 1L
    cat("FAIL", name, "\n  got:     ", deparse(got), "\n  expected:", deparse(expected), "\n")
  }
}

field <- function(code, name) analyze(code)[[name]]

# `values` all present in (or all absent from) a field of the analysis of `code`.
has <- function(name, code, what, values) check(name, all(values %in% field(code, what)), TRUE)
lacks <- function(name, code, what, values) check(name, any(values %in% field(code, what)), FALSE)

# ---- Result shape ----------------------------------------------------------------------------------

r <- analyze("x <- 1")
check("shape: field names", names(r),
      c("ok", "defs", "uses", "deletes", "attaches", "files", "volatile", "effects"))
check("shape: types", vapply(r, typeof, ""),
      c(ok = "logical", defs = "character", uses = "character", deletes = "character",
        attaches = "character", files = "character", volatile = "logical", effects = "character"))
check("shape: sorted unique", field("b <- 1; a <- 2; b <- 3; C <- 4", "defs"), c("C", "a", "b"))

empty <- list(ok = TRUE, defs = character(), uses = character(), deletes = character(),
              attaches = character(), files = character(), volatile = FALSE, effects = character())
check("empty cell", analyze(""), empty)
check("whitespace cell", analyze("  \n\n "), empty)
check("comment-only cell", analyze("# just a comment\n  # another"), empty)
failed <- empty
failed$ok <- FALSE
check("parse error", analyze("x <- "), failed)
check("parse error: unbalanced", analyze("f(1, 2"), failed)
check("NA code", analyze(NA_character_), failed)
check("non-character code", analyze(42), failed)

# ---- defs and uses: evaluation order ---------------------------------------------------------------

check("x <- x + 1: defs", field("x <- x + 1", "defs"), "x")
has("x <- x + 1: uses x", "x <- x + 1", "uses", "x")
check("y <- 1; y + 1: defs", field("y <- 1; y + 1", "defs"), "y")
lacks("y <- 1; y + 1: y is no use", "y <- 1; y + 1", "uses", "y")
has("y + 1; y <- 1: y is a use", "y + 1; y <- 1", "uses", "y")
check("= assignment", field("x = 5", "defs"), "x")
check("-> assignment", field("1 -> x", "defs"), "x")
check("->> assignment", field("2 ->> y", "defs"), "y")
check("<<- at top level", field("z <<- 3", "defs"), "z")
check("string target", field("\"s\" <- 1", "defs"), "s")
check("chained assignment", field("x <- y <- w", "defs"), c("x", "y"))
has("chained assignment: uses", "x <- y <- w", "uses", "w")
has("function name is a use", "mean(x)", "uses", c("mean", "x"))
check("multi-line cell",
      field("a <- read_input()\nb <- a * 2\nc <- b + a\n", "defs"), c("a", "b", "c"))
lacks("multi-line cell: no use of a, b", "a <- read_input()\nb <- a * 2\nc <- b + a\n", "uses",
      c("a", "b"))
has("multi-line cell: use", "a <- read_input()\nb <- a * 2\nc <- b + a\n", "uses", "read_input")

# ---- replacement forms -------------------------------------------------------------------------------

for (code in c("x$a <- 1", "x[[i]] <- v", "x[i] <- v", "names(x) <- v", "attr(x, \"a\") <- 1",
               "x@slot <- v", "x$a$b <- 1", "x[, 1] <- 0", "x[[1]]$b[2] <- 9")) {
  check(paste0(code, ": defs"), field(code, "defs"), "x")
  has(paste0(code, ": uses x"), code, "uses", "x")
}
has("x[[i]] <- v: uses i, v", "x[[i]] <- v", "uses", c("i", "v"))
has("names(x) <- v: uses v", "names(x) <- v", "uses", "v")
lacks("x$a <- 1: a is no use", "x$a <- 1", "uses", "a")
lacks("x@slot <- v: slot is no use", "x@slot <- v", "uses", "slot")
check("levels(df$f)[1] <- \"z\": defs", field("levels(df$f)[1] <- \"z\"", "defs"), "df")
has("levels(df$f)[1] <- \"z\": uses df", "levels(df$f)[1] <- \"z\"", "uses", "df")
lacks("levels(df$f)[1] <- \"z\": f is no use", "levels(df$f)[1] <- \"z\"", "uses", "f")
check("levels(x$f)[2] <- \"b\": defs", field("levels(x$f)[2] <- \"b\"", "defs"), "x")
has("x <- list(); x$a <- 1: x no use", "x <- list(); x$a <- 1", "defs", "x")
lacks("x <- list(); x$a <- 1: x no use", "x <- list(); x$a <- 1", "uses", "x")
check("replacement <<-", field("x$a <<- 1", "defs"), "x")

# ---- functions ---------------------------------------------------------------------------------------

check("f <- function(a) a + q: defs", field("f <- function(a) a + q", "defs"), "f")
check("f <- function(a) a + q: uses", field("f <- function(a) a + q", "uses"), character())
check("lambda syntax", field("f <- \\(a) a + q", "uses"), character())
check("default arguments are inside", field("f <- function(a = p) a", "uses"), character())
check("assignments inside function body are local",
      field("f <- function() { inner <- 1; inner }", "defs"), "f")
check("<<- inside a function body is not analysed",
      field("f <- function() g <<- 1", "defs"), "f")
lacks("defined function then called: no use", "f <- function() 1; f()", "uses", "f")
has("function literal passed to lapply: free variables are uses",
    "r <- lapply(xs, function(x) x * k)", "uses", c("lapply", "xs", "k"))
lacks("function literal passed to lapply: its argument is no use",
      "r <- lapply(xs, function(x) x * k)", "uses", "x")
check("function literal passed to lapply: no local defs",
      field("r <- lapply(xs, function(x) { tmp <- x; tmp })", "defs"), "r")
has("immediately invoked function", "(function(a) a + w)(1)", "uses", "w")
has("computed function head", "f(x)(y)", "uses", c("f", "x", "y"))
check("f <- g <- function: defs", field("f <- g <- function() q", "defs"), c("f", "g"))
check("f <- g <- function: uses", field("f <- g <- function() q", "uses"), character())

# ---- control flow ------------------------------------------------------------------------------------

check("for: defs", field("for (i in 1:3) s <- s + i", "defs"), c("i", "s"))
has("for: uses s", "for (i in 1:3) s <- s + i", "uses", "s")
lacks("for: i is no use", "for (i in 1:3) s <- s + i", "uses", "i")
has("for: sequence is a use", "for (i in seq_len(n)) NULL", "uses", c("n", "seq_len"))
check("if/else: defs", field("if (cond) z <- 1 else z <- 2", "defs"), "z")
has("if/else: uses cond", "if (cond) z <- 1 else z <- 2", "uses", "cond")
lacks("if/else binds in both branches: later read no use", "if (cond) z <- 1 else z <- 2; z",
      "uses", "z")
has("if without else: later read is a use", "if (cond) z <- 1; z", "uses", "z")
has("if/else binds in one branch: later read is a use", "if (cond) z <- 1 else w <- 2; z",
    "uses", "z")
check("while: defs", field("while (cond) w <- w + 1", "defs"), "w")
has("while body may not run", "while (cond) w <- 1; w", "uses", c("cond", "w"))
check("repeat: defs", field("repeat { v <- 1; break }", "defs"), "v")
check("blocks", field("{ a <- 1; { b <- a } }", "defs"), c("a", "b"))
lacks("blocks: sequential binding", "{ a <- 1; { b <- a } }", "uses", "a")
check("switch: defs", field("switch(k, a = { u <- 1 }, u <- 2)", "defs"), "u")
has("switch: uses", "switch(k, a = { u <- 1 }, u <- 2); u", "uses", c("k", "u"))
has("&& right side is conditional", "ok && (m <- 1); m", "uses", c("ok", "m"))
check("&& right side defines", field("ok && (m <- 1)", "defs"), "m")

# ---- assignments inside ordinary calls ----------------------------------------------------------------

check("invisible(x <- 1)", field("invisible(x <- 1)", "defs"), "x")
lacks("invisible(x <- 1); x", "invisible(x <- 1); x", "uses", "x")
check("suppressWarnings(y <- f())", field("suppressWarnings(y <- f())", "defs"), "y")
check("try(z <- g())", field("try(z <- g())", "defs"), "z")
has("try(z <- g()); z: z may be unbound", "try(z <- g()); z", "uses", "z")
check("tryCatch expression", field("tryCatch(a <- f(), error = function(e) NULL)", "defs"), "a")
check("system.time(w <- h())", field("system.time(w <- h())", "defs"), "w")
check("print((p <- 3))", field("print((p <- 3))", "defs"), "p")

# ---- non-global code ----------------------------------------------------------------------------------

check("local({ a <- 1; b <<- 2 }): defs", field("local({ a <- 1; b <<- 2 })", "defs"), "b")
has("local body reads globals", "local({ a <- 1; a + g })", "uses", "g")
lacks("local body: local binding is no use", "local({ a <- 1; a + g })", "uses", "a")
check("quote", field("quote(x <- y)", "defs"), character())
lacks("quote: no uses inside", "quote(x <- y)", "uses", c("x", "y"))
check("bquote", field("e <- bquote(x <- .(v) + y)", "defs"), "e")
has("bquote: .() is evaluated", "e <- bquote(x <- .(v) + y)", "uses", "v")
lacks("bquote: template is not", "e <- bquote(x <- .(v) + y)", "uses", "y")
check("expression", field("e <- expression(x <- 1, y)", "defs"), "e")
lacks("expression: no uses inside", "e <- expression(x <- 1, w)", "uses", "w")
check("substitute", field("substitute(a <- b)", "defs"), character())
check("alist", field("alist(a = , b = v <- 1)", "defs"), character())
lacks("alist: no uses inside", "alist(a = , b = q)", "uses", "q")
check("formula: no uses", field("f <- y ~ x + z", "uses"), character())
check("lm(y ~ x, data = d)", field("lm(y ~ x, data = d)", "uses"), c("d", "lm"))
check("with: no defs", field("with(df, q <- a + b)", "defs"), character())
has("with: data and body are uses", "with(df, q <- a + b)", "uses", c("df", "a", "b"))
check("within: defs only the result", field("df2 <- within(df, z <- x)", "defs"), "df2")
check("evalq in another env", field("evalq(x <- 1, e)", "defs"), character())
has("evalq in another env: env is a use", "evalq(x <- 1, e)", "uses", "e")
check("eval in new.env()", field("eval(x <- 1, envir = new.env())", "defs"), character())
check("evalq without env is global", field("evalq(x <- 1)", "defs"), "x")
check("evalq in globalenv()", field("evalq(x <- 1, globalenv())", "defs"), "x")
check("eval(quote(...)) runs the quoted code in the global environment", field("eval(quote(x <- 1))", "defs"), "x")

# ---- reflective reads (SPEC section 3) ---------------------------------------------------------------

has("exists('y') reads y", "exists('y')", "uses", "y")
has("get('y') reads y", "z <- get('y') + 1", "uses", "y")
has("get0 with a default reads y", "get0('y', ifnotfound = 0)", "uses", "y")
has("mget of literal names reads each", "mget(c('a', 'b'))", "uses", c("a", "b"))
has("exists(x = 'y', envir = globalenv())", "exists(x = 'y', envir = globalenv())", "uses", "y")
lacks("exists in another environment is no global read", "exists('y', envir = e)", "uses", "y")
lacks("a name bound earlier in the cell is the cell's own", "y <- 1; exists('y')", "uses", "y")
has(".GlobalEnv$x reads x", "v <- .GlobalEnv$x", "uses", "x")
has("globalenv()[['x']] reads x", "v <- globalenv()[['x']]", "uses", "x")
has("eval(quote(y + 1)) reads y", "eval(quote(y + 1))", "uses", "y")
has("eval(parse(text = 'y * 2')) reads y", "eval(parse(text = 'y * 2'))", "uses", "y")
lacks("eval(parse(text = literal)) is resolved", "eval(parse(text = 'y * 2'))", "effects", "globals")
for (code in c("get(nm)", "exists(paste0('v', i))", "ls()", "objects()", "as.list(globalenv())",
               "eapply(.GlobalEnv, class)", "eval(parse(text = code))", "globalenv()[[nm]]", "mget(ls())")) {
  has(paste0(code, ": reads the whole global environment"), code, "effects", "globals")
  check(paste0(code, ": not volatile (the engine keys it on every binding)"), field(code, "volatile"), FALSE)
}
lacks("ls(e) reads only e", "ls(e)", "effects", "globals")

f_reflect <- function() if (exists("flag_y")) get("flag_y") else 0
check("closure: exists/get of a literal name are uses, bound or not",
      "flag_y" %in% closure_uses("f_reflect", environment()), TRUE)
f_lists <- function() length(ls(envir = globalenv()))
check("closure: ls() of the global environment reads all of it", "@globals" %in% closure_uses("f_lists", environment()),
      TRUE)

# ---- pipes and namespaces ------------------------------------------------------------------------------

has("df |> subset(a > 1)", "df |> subset(a > 1)", "uses", c("df", "subset", "a"))
has("magrittr pipe", "df %>% filter(b)", "uses", c("%>%", "df", "filter", "b"))
check("stats::median(x)", field("stats::median(x)", "uses"), "x")
check("pkg:::f(x)", field("pkg:::f(x)", "uses"), "x")
check("bare pkg::obj", field("v <- datasets::iris", "uses"), character())
has("$ member is no use", "x$col + 1", "uses", "x")
lacks("$ member is no use", "x$col + 1", "uses", "col")

# ---- assign, delayedAssign, makeActiveBinding -----------------------------------------------------------

check("assign(\"k\", 1)", field("assign(\"k\", 1)", "defs"), "k")
check("assign(nm, 1)", field("assign(nm, 1)", "defs"), character())
has("assign(nm, 1): nm is a use", "assign(nm, 1)", "uses", "nm")
check("assign globalenv()", field("assign(\"k\", v, envir = globalenv())", "defs"), "k")
check("assign .GlobalEnv", field("assign(\"k\", v, envir = .GlobalEnv)", "defs"), "k")
check("assign other env", field("assign(\"k\", v, envir = e)", "defs"), character())
check("assign pos = 2", field("assign(\"k\", v, pos = 2)", "defs"), character())
check("assign named x", field("assign(value = 1, x = \"k\")", "defs"), "k")
check("assign in local", field("local(assign(\"k\", 1))", "defs"), character())
check("assign in local to globalenv()", field("local(assign(\"k\", 1, envir = globalenv()))", "defs"),
      "k")
check("assign a function", field("assign(\"f\", function() q)", "uses"), "assign")
check("delayedAssign", field("delayedAssign(\"lazy\", expensive())", "defs"), "lazy")
check("delayedAssign other env", field("delayedAssign(\"lazy\", 1, assign.env = e)", "defs"),
      character())
check("makeActiveBinding", field("makeActiveBinding(\"ab\", function() 1, globalenv())", "defs"),
      "ab")

# ---- deletes ----------------------------------------------------------------------------------------------

check("rm(x, y)", field("rm(x, y)", "deletes"), c("x", "y"))
lacks("rm(x, y): not uses", "rm(x, y)", "uses", c("x", "y"))
check("rm(\"x\")", field("rm(\"x\")", "deletes"), "x")
check("rm(list = c(\"a\", \"b\"))", field("rm(list = c(\"a\", \"b\"))", "deletes"), c("a", "b"))
check("rm(list = \"a\")", field("rm(list = \"a\")", "deletes"), "a")
check("remove(list = \"a\")", field("remove(list = \"a\")", "deletes"), "a")
check("remove(q)", field("remove(q)", "deletes"), "q")
check("rm(list = ls())", field("rm(list = ls())", "deletes"), "*")
check("rm(list = ls()) with others", field("rm(a); rm(list = ls(all.names = TRUE))", "deletes"), "*")
check("rm(list = nms)", field("rm(list = nms)", "deletes"), character())
has("rm(list = nms): nms is a use", "rm(list = nms)", "uses", "nms")
check("rm in other env", field("rm(x, envir = e)", "deletes"), character())
check("rm in local", field("local({ t <- 1; rm(t) })", "deletes"), character())

# ---- attaches -------------------------------------------------------------------------------------------

check("library(pkg)", field("library(MASS)", "attaches"), "MASS")
lacks("library(pkg): pkg is no use", "library(MASS)", "uses", "MASS")
check("library(\"pkg\")", field("library(\"MASS\")", "attaches"), "MASS")
check("require(pkg)", field("require(dplyr)", "attaches"), "dplyr")
check("if (!require(pkg))", field("if (!require(dplyr)) stop()", "attaches"), "dplyr")
check("requireNamespace does not attach", field("requireNamespace(\"dplyr\")", "attaches"),
      character())
check("library(x, character.only = TRUE)", field("library(x, character.only = TRUE)", "attaches"),
      character())
has("library(x, character.only = TRUE): x is a use", "library(x, character.only = TRUE)", "uses", "x")
check("library(\"x\", character.only = TRUE)",
      field("library(\"tidyr\", character.only = TRUE)", "attaches"), "tidyr")
check("wrapped library", field("suppressPackageStartupMessages(library(dplyr))", "attaches"), "dplyr")
check("base::library", field("base::library(ggplot2)", "attaches"), "ggplot2")
check("library(help = pkg)", field("library(help = stats)", "attaches"), character())
check("several libraries", field("library(b); library(a)", "attaches"), c("a", "b"))

# ---- RNG --------------------------------------------------------------------------------------------------

check("set.seed(1); runif(1): defs", field("set.seed(1); runif(1)", "defs"), ".Random.seed")
lacks("set.seed(1); runif(1): no seed use", "set.seed(1); runif(1)", "uses", ".Random.seed")
check("runif(1); set.seed(1): defs", field("runif(1); set.seed(1)", "defs"), ".Random.seed")
has("runif(1); set.seed(1): seed use", "runif(1); set.seed(1)", "uses", ".Random.seed")
check("rng effect", field("x <- rnorm(10)", "effects"), "rng")
check("rnorm: defs", field("x <- rnorm(10)", "defs"), c(".Random.seed", "x"))
has("rnorm: seed use", "x <- rnorm(10)", "uses", ".Random.seed")
check("runif is not volatile", field("runif(1)", "volatile"), FALSE)
check("library(MASS); mvrnorm: attaches", field("library(MASS); s <- mvrnorm(5, mu, S)", "attaches"),
      "MASS")
check("library(MASS); mvrnorm: defs", field("library(MASS); s <- mvrnorm(5, mu, S)", "defs"),
      c(".Random.seed", "s"))
has("library(MASS); mvrnorm: uses", "library(MASS); s <- mvrnorm(5, mu, S)", "uses",
    c(".Random.seed", "mvrnorm", "mu", "S"))
check("MASS::mvrnorm", field("MASS::mvrnorm(5, mu, S)", "defs"), ".Random.seed")
check("stats::rnorm", field("stats::rnorm(1)", "uses"), ".Random.seed")
for (fn in c("sample(v)", "sample.int(10)", "rbinom(1, 1, .5)", "rpois(1, 1)", "jitter(v)",
             "kmeans(m, 3)", "simulate(fit)", "rmvnorm(3, mu)", "rexp(1)", "rgamma(1, 1)")) {
  check(paste("rng draw:", fn), "rng" %in% field(fn, "effects"), TRUE)
}
check("RNGkind", field("RNGkind(\"Mersenne-Twister\")", "effects"), "rng")
check("set.seed defs", field("set.seed(42)", "defs"), ".Random.seed")
check("set.seed uses nothing but itself", field("set.seed(42)", "uses"), "set.seed")
check("draw in a function body does not count", field("f <- function() runif(1)", "defs"), "f")
check("draw in a function body: no effect", field("f <- function() runif(1)", "effects"),
      character())
check("draw in a lapply lambda counts", field("v <- sapply(1:3, function(i) rnorm(1))", "defs"),
      c(".Random.seed", "v"))
check("set.seed in local", field("local({ set.seed(1); x <- runif(1) })", "defs"), ".Random.seed")
has("conditional set.seed", "if (fixed) set.seed(1); runif(1)", "uses", ".Random.seed")

# ---- files ------------------------------------------------------------------------------------------------

check("d <- read.csv(\"data.csv\")", field("d <- read.csv(\"data.csv\")", "files"), "data.csv")
check("read.csv: defs", field("d <- read.csv(\"data.csv\")", "defs"), "d")
check("readRDS", field("m <- readRDS('model.rds')", "files"), "model.rds")
check("read.table file =", field("read.table(header = TRUE, file = \"t.txt\")", "files"), "t.txt")
check("readLines con =", field("readLines(con = \"a.txt\")", "files"), "a.txt")
check("source", field("source(\"helpers.R\")", "files"), "helpers.R")
check("load", field("load(\"x.RData\")", "files"), "x.RData")
check("scan", field("scan(\"n.txt\")", "files"), "n.txt")
check("file()", field("con <- file(\"f.txt\")", "files"), "f.txt")
check("readr::read_csv", field("readr::read_csv(\"a.csv\")", "files"), "a.csv")
check("read_tsv", field("read_tsv(\"a.tsv\")", "files"), "a.tsv")
check("data.table::fread", field("data.table::fread(\"b.csv\")", "files"), "b.csv")
check("yaml::read_yaml", field("yaml::read_yaml(\"c.yml\")", "files"), "c.yml")
check("utils::read.fwf", field("utils::read.fwf(\"w.txt\", widths = 1)", "files"), "w.txt")
check("jsonlite::fromJSON file", field("jsonlite::fromJSON(\"d.json\")", "files"), "d.json")
check("jsonlite::fromJSON text", field("jsonlite::fromJSON('{\"a\": 1}')", "files"), character())
check("several files", field("a <- read.csv(\"2.csv\"); b <- read.csv(\"1.csv\")", "files"),
      c("1.csv", "2.csv"))
check("non-literal path", field("read.csv(path)", "files"), character())
check("read.csv(text =)", field("read.csv(text = \"a,b\")", "files"), character())
check("URL is volatile, not a file", field("read.csv(\"https://example.org/a.csv\")", "files"),
      character())
check("URL is volatile", field("read.csv(\"https://example.org/a.csv\")", "volatile"), TRUE)
check("file in function body", field("f <- function() read.csv(\"x.csv\")", "files"), character())

# ---- volatile ------------------------------------------------------------------------------------------------

for (code in c("t0 <- Sys.time()", "Sys.Date()", "date()", "proc.time()", "system.time(f())",
               "Sys.getpid()", "p <- tempfile()", "tempdir()", "url(\"http://x\")",
               "download.file(u, \"f\")", "curl::curl_fetch_memory(u)", "httr::GET(u)",
               "system(\"ls\")", "system2(\"ls\")", "file.info(\"a\")", "file.exists(\"a\")",
               "list.files(\".\")", "dir()", "readline()", "readLines(stdin())",
               "scan(stdin())", "readLines()", "scan()",
               # the process environment and the front end's request differ between sessions
               "Sys.getenv(\"HOME\")", "ripple::request_metadata()", "cat(basename(getwd()))")) {
  check(paste("volatile:", code), field(code, "volatile"), TRUE)
}
for (code in c("x <- 1", "runif(1)", "scan(text = \"1 2\")",
               "f <- function() Sys.time()", "read.csv(\"a.csv\")")) {
  check(paste("not volatile:", code), field(code, "volatile"), FALSE)
}

# ---- effects -------------------------------------------------------------------------------------------------

check("options(digits = 3)", field("options(digits = 3)", "effects"), "options")
check("op <- options(digits = 3)", field("op <- options(digits = 3)", "effects"), "options")
check("options(op)", field("options(op)", "effects"), "options")
check("options() is a read", field("options()", "effects"), character())
check("getOption is a read", field("getOption(\"digits\")", "effects"), character())
check("options(\"digits\") is a read", field("options(\"digits\")", "effects"), character())
check("setwd", field("setwd(\"/tmp\")", "effects"), "wd")
check("Sys.setenv", field("Sys.setenv(A = \"1\")", "effects"), "envvars")
check("Sys.unsetenv", field("Sys.unsetenv(\"A\")", "effects"), "envvars")
check("Sys.setlocale", field("Sys.setlocale(\"LC_ALL\", \"C\")", "effects"), "locale")
check("par(mfrow = ...)", field("par(mfrow = c(1, 2))", "effects"), "par")
check("par() is a read", field("par()", "effects"), character())
check("par(no.readonly = TRUE) is a read", field("op <- par(no.readonly = TRUE)", "effects"),
      character())
# library() of a named package attaches it (the cache can repeat that); a computed name changes the search path.
check("library: attaches, no search effect", field("library(stats4)", "effects"), character())
check("require: attaches, no search effect", field("require(stats4)", "effects"), character())
check("library of a computed name: search", field("library(pkg, character.only = TRUE)", "effects"), "search")
check("attach: search", field("attach(df)", "effects"), "search")
check("detach: search", field("detach(\"package:stats4\")", "effects"), "search")
check("requireNamespace: no effect", field("requireNamespace(\"x\")", "effects"), character())
check("several effects", field("set.seed(1); options(warn = 1); attach(x); setwd(d)", "effects"),
      c("options", "rng", "search", "wd"))
check("effects in function body don't count", field("f <- function() options(digits = 1)", "effects"),
      character())

# ---- other binding forms -------------------------------------------------------------------------------------

check("data(iris)", field("data(iris, \"mtcars\", list = \"cars\")", "defs"), c("cars", "iris", "mtcars"))
lacks("data(iris): not a use", "data(iris)", "uses", "iris")
check("data(iris, envir = e)", field("data(iris, envir = e)", "defs"), character())
check("magrittr %<>%", field("x %<>% sort()", "defs"), "x")
check("magrittr %<>% chain", field("x %<>% sort() %>% rev()", "defs"), "x")
has("magrittr %<>% uses x", "x %<>% sort()", "uses", c("x", "sort"))
check("... and ..1 are not uses", field("f(...); g(..1)", "uses"), c("f", "g"))
check("CRLF line endings", field("a <- 1\r\nb <- a\r\n", "defs"), c("a", "b"))

# ---- data.table in-place updates --------------------------------------------------------------------------

check("dt[, a := 1] defines dt", field("dt[, a := 1]", "defs"), "dt")
check("setnames(dt, ...) defines dt", field("setnames(dt, \"a\", \"b\")", "defs"), "dt")

# ---- .closure_uses ---------------------------------------------------------------------------------------

env <- new.env()
evalq({
  g <- function() y
  f <- function(a) g() + a + z
  h <- function(n = default_n) stats::rnorm(n) + w
  rec1 <- function() rec2() + u1
  rec2 <- function() rec1() + u2
  not_fun <- 42
  local_fun <- local(function() hidden)
  draws <- function() sample(10)
  calls_draws <- function() draws()
}, env)
cu <- function(...) closure_uses(c(...), env = env)
check("closure_uses f", all(c("g", "y", "z") %in% cu("f")), TRUE)
check("closure_uses f: no argument", "a" %in% cu("f"), FALSE)
check("closure_uses sorted unique", identical(cu("f"), sort(unique(cu("f")), method = "radix")), TRUE)
check("closure_uses: defaults and namespaced draw", cu("h"), c(".Random.seed", "default_n", "w"))
check("closure_uses: recursion is cycle-safe", cu("rec1"), c("rec1", "rec2", "u1", "u2"))
check("closure_uses: not a function", cu("not_fun"), character())
check("closure_uses: unbound", cu("nope"), character())
check("closure_uses: closure of another env", cu("local_fun"), character())
check("closure_uses: base names dropped", cu("g"), "y")
plus_env <- new.env()
evalq({
  `+` <- function(e1, e2) base::`+`(e1, e2)
  adds <- function(a) a + 1
}, plus_env)
check("closure_uses: base names kept when bound in env", closure_uses("adds", env = plus_env), "+")
check("closure_uses: RNG draw", cu("draws"), ".Random.seed")
check("closure_uses: RNG draw through a call", cu("calls_draws"), c(".Random.seed", "draws"))
check("closure_uses: several names", cu("g", "draws"), c(".Random.seed", "y"))
check("closure_uses: empty", cu(), character())
check("closure_uses: bad input does not error", closure_uses(NULL, env = "not an env"), character())
assign("top_g", function() top_y, envir = globalenv())
check("closure_uses: default env is globalenv()", closure_uses("top_g"), "top_y")

# ---- deep code -----------------------------------------------------------------------------------------------

long_sum <- paste0("total <- ", paste(sprintf("v%d", 1:5000), collapse = " + "))
check("long operator chain: ok", field(long_sum, "ok"), TRUE)
check("long operator chain: defs", field(long_sum, "defs"), "total")
check("long operator chain: uses", length(setdiff(field(long_sum, "uses"), "+")), 5000L)
layers <- paste0("p <- ggplot(d) + ", paste(rep("geom_point(aes(x, y))", 300), collapse = " + "))
has("ggplot layers", layers, "uses", c("ggplot", "d", "geom_point", "aes", "x", "y"))
mixed <- paste0("m <- v0", paste(sprintf(" %s v%d", c("-", "+", "*", "%>%"), 1:4000), collapse = ""))
check("long mixed operator chain: ok", field(mixed, "ok"), TRUE)
has("long mixed operator chain: uses", mixed, "uses", c("v0", "v3999", "v4000", "%>%", "-"))
unary <- paste0("n <- ", strrep("-", 3000), "runif(k)")
check("deep unary chain: ok", field(unary, "ok"), TRUE)
check("deep unary chain: defs", field(unary, "defs"), c(".Random.seed", "n"))
has("deep unary chain: uses", unary, "uses", c("k", ".Random.seed"))
assignments <- paste0(paste(sprintf("a%d <- ", 1:300), collapse = ""), "Sys.time()")
check("deep assignment chain: ok", field(assignments, "ok"), TRUE)
has("deep assignment chain: outer defs", assignments, "defs", c("a1", "a50"))
check("deep assignment chain: volatile", field(assignments, "volatile"), TRUE)
members <- paste0("x", strrep("$a", 2000), " <- 1")
check("deep member target", field(members, "defs"), "x")
nested <- paste0("deep <- ", strrep("f(", 45), "x", strrep(")", 45))
check("most nested calls R parses", field(nested, "defs"), "deep")

# ---- speed ----------------------------------------------------------------------------------------------------

cell_50 <- paste(rep(c(
  "d <- read.csv(\"data.csv\")",
  "d$z <- with(d, x * 2 + y)",
  "fit <- lm(y ~ x + z, data = d)",
  "if (nrow(d) > 10) { s <- summary(fit) } else s <- NULL",
  "for (i in seq_len(3)) d[[paste0(\"c\", i)]] <- rnorm(nrow(d))",
  "names(d)[1] <- \"first\"",
  "res <- sapply(split(d, d$g), function(part) mean(part$x) + k)",
  "library(stats)",
  "plot_it <- function(a, b = 2) { plot(a, b); invisible(NULL) }",
  "out <- d |> subset(x > 0) |> transform(w = x / y)"), 5), collapse = "\n")
invisible(analyze(cell_50))
runs <- 50L
elapsed <- system.time(for (i in seq_len(runs)) analyze(cell_50))[["elapsed"]]
per_cell_ms <- 1000 * elapsed / runs
cat(sprintf("INFO .analyze_cell on a 50-line cell: %.2f ms\n", per_cell_ms))
check("speed: 50-line cell under 50 ms", per_cell_ms < 50, TRUE)

cat(sprintf("%d checks, %d failed\n", checks, failures))
if (failures > 0L) quit(status = 1L, save = "no")
