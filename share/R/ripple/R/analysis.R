# analysis.R: static analysis of a cell's code (defs, uses, deletes, attaches, files, effects) and the free
# symbols of top-level closures. Knows nothing of the graph, cache or kernel (cell fingerprints are made in C++).

# ---- Call tables ---------------------------------------------------------------------------------

.rng_draw_functions <- c(
  "runif", "rnorm", "rbinom", "rpois", "rexp", "rgamma", "rbeta", "rt", "rchisq", "rcauchy",
  "rweibull", "rlogis", "rlnorm", "rgeom", "rhyper", "rnbinom", "rmultinom", "rsignrank", "rwilcox",
  "rf", "r2dtable", "sample", "sample.int", "mvrnorm", "jitter", "rmvnorm", "kmeans", "simulate",
  "slice_sample", "sample_n", "sample_frac")

.volatile_functions <- c(
  "Sys.time", "Sys.Date", "date", "proc.time", "system.time", "Sys.getpid", "tempfile", "tempdir",
  "url", "download.file", "system", "system2", "shell", "readline", "menu",
  "file.info", "file.exists", "file.size", "file.mtime", "dir.exists", "list.files", "list.dirs",
  "dir", "Sys.glob", "Sys.getenv", "Sys.info", "Sys.timezone", "file.access",
  # the working directory and the home directory: session state outside the cache key
  "getwd", "normalizePath", "path.expand",
  # what the front end sent with the current request (ripple's own)
  "request_metadata",
  # httr / httr2 / curl verbs, which usually appear unqualified after library()
  "GET", "POST", "PUT", "PATCH", "HEAD", "VERB", "req_perform", "curl_fetch_memory",
  "curl_download")

# Every function of these packages talks to the network.
.volatile_packages <- c("curl", "httr", "httr2", "RCurl")

.file_reader_functions <- c(
  "read.csv", "read.csv2", "read.table", "read.delim", "read.delim2", "readRDS", "readLines", "scan",
  "source", "sys.source", "load", "file", "readChar", "readBin", "read.dcf", "read.fwf", "fromJSON",
  "read_csv", "read_csv2", "read_tsv", "read_delim", "read_lines", "read_file", "read_rds",
  "read_fwf", "read_table", "fread", "read_yaml", "yaml.load_file", "read_excel", "read_xlsx",
  "read_xls")

# Argument names under which the readers above take their path.
.file_argument_names <- c("file", "con", "description", "input", "txt", "path")

# data.table functions that modify their first argument in place.
.in_place_functions <- c(
  "set", "setnames", "setkey", "setkeyv", "setorder", "setorderv", "setattr", "setcolorder",
  "setDT", "setDF", "setindex", "setindexv")

# Each nested call costs the walker about 25 kB of C stack; an embedded R may run without R's stack
# check, so the depth is bounded explicitly.
.max_walk_depth <- 100L

.syntax_names <- c("{", "(", "<-", "<<-", "=", "if", "for", "while", "repeat", "function", "~",
                   "break", "next", "::", ":::")

# Left-associative binary operators whose (mixed) chains are walked without recursion.
.chain_operators <- c("+", "-", "*", "/", "^", "%%", "%/%", "&", "|", "==", "!=", "<", ">", "<=",
                      ">=", "%>%", "%<>%", "%T>%", "%in%", "%*%", "%o%", "%+%", "%+replace%")

# fn name -> how the walker treats a call to it (whatever package it is qualified with).
.call_kinds <- local({
  kinds <- new.env(hash = TRUE, parent = emptyenv())
  put <- function(kind, names) for (name in names) assign(name, kind, envir = kinds)
  put("rng", .rng_draw_functions)
  put("volatile", .volatile_functions)
  put("reader", .file_reader_functions)
  put("in_place", .in_place_functions)
  put("quoted", c("quote", "expression", "alist", "substitute"))
  put("bquote", "bquote")
  put("local", "local")
  put("with", c("with", "within"))
  put("eval", c("eval", "evalq"))
  put("reflect", c("exists", "get", "get0", "mget"))
  put("list_env", c("ls", "objects", "as.list", "eapply", "env2list", "as.list.environment"))
  put("assign", "assign")
  put("delayed_assign", "delayedAssign")
  put("active_binding", "makeActiveBinding")
  put("rm", c("rm", "remove"))
  put("data", "data")
  put("library", c("library", "require"))
  put("try", "try")
  put("try_catch", "tryCatch")
  put("switch", "switch")
  put("member", c("$", "@"))
  put("subset", "[")
  put("index", "[[")
  put("set_seed", "set.seed")
  put("rng_kind", "RNGkind")
  put("options", "options")
  put("par", "par")
  put("wd", "setwd")
  put("envvars", c("Sys.setenv", "Sys.unsetenv"))
  put("locale", "Sys.setlocale")
  put("search", c("attach", "detach", "attachNamespace"))
  kinds
})

.library_formals <- c("package", "help", "pos", "lib.loc", "character.only", "logical.return",
                      "warn.conflicts", "quietly", "verbose", "mask.ok", "exclude", "include.only",
                      "attach.required")
.require_formals <- c("package", "lib.loc", "quietly", "warn.conflicts", "character.only")

# ---- Entry points ---------------------------------------------------------------------------------

.analyze_cell <- function(code) {
  # One tryCatch for parse and walk (each costs microseconds per cell): either failing means "not understood".
  tryCatch({
    if (!is.character(code) || anyNA(code)) stop("code must be a character string")
    exprs <- suppressWarnings(parse(text = .cell_text(code), keep.source = FALSE))
    st <- .new_walk_state()
    for (i in seq_along(exprs)) .walk(exprs[[i]], st)
    .analysis_result(TRUE, st)
  }, error = function(e) .analysis_result(FALSE))
}

.closure_uses <- function(names, env = globalenv()) {
  # codetools builds its walkers as closures at run time; the JIT would compile them on first use, about 20 ms
  # of a fresh session's first function definition (a warm run-notebook pays it while catching up). Walking
  # them uncompiled costs the same per call after that, so the JIT is off for the walk.
  jit <- compiler::enableJIT(0L)
  on.exit(compiler::enableJIT(jit), add = TRUE)
  tryCatch(.closure_uses_unsafe(as.character(names), env), error = function(e) character())
}

# One string; Windows line ends become "\n" (R's parser rejects a "\r").
.cell_text <- function(code) gsub("\r\n", "\n", paste(code, collapse = "\n"), fixed = TRUE)

# ---- Results ---------------------------------------------------------------------------------------

.sorted_set <- function(x) {
  x <- as.character(x)
  if (length(x) < 2L) return(x)
  # Most sets have 0 or 1 names. sort(), order() and unique() go through several R closures (sort() alone took
  # 35 us a call, a third of the analysis of `v1 <- v0 + 1`); the radix sort under them takes 1 us (C locale, NA
  # last), and equal neighbours are then dropped.
  x <- x[.Internal(radixsort(TRUE, FALSE, FALSE, TRUE, x))]
  x[c(TRUE, x[-1L] != x[-length(x)])]
}

.analysis_result <- function(ok, st = NULL) {
  if (is.null(st)) st <- .new_walk_state()
  deletes <- .sorted_set(st$deletes)
  if ("*" %in% deletes) deletes <- "*"
  list(ok = ok,
       defs = .sorted_set(st$defs),
       uses = .sorted_set(st$uses),
       deletes = deletes,
       attaches = .sorted_set(st$attaches),
       files = .sorted_set(st$files),
       volatile = isTRUE(st$volatile),
       effects = .sorted_set(st$effects))
}

# ---- Walk state ------------------------------------------------------------------------------------
# `bound` holds globals certainly bound so far in the cell (a later read is not a use); `local` holds
# names bound in a non-global frame (local(), with(), a function literal being walked) while
# `in_local` says such a frame is the current one.

.new_walk_state <- function() {
  st <- new.env(parent = emptyenv())
  st$defs <- character()
  st$uses <- character()
  st$deletes <- character()
  st$attaches <- character()
  st$files <- character()
  st$volatile <- FALSE
  st$effects <- character()
  st$reflected <- character()  # names read by exists/get/get0/mget, `.GlobalEnv$x`, ... (bound or not)
  st$bound <- character()
  st$local <- character()
  st$in_local <- FALSE
  st$depth <- 0L
  st
}

.use <- function(name, st) {
  if (!nzchar(name) || (startsWith(name, "..") && (name == "..." || grepl("^\\.\\.[0-9]+$", name)))) {
    return(invisible())
  }
  if (name %in% st$bound || (st$in_local && name %in% st$local)) return(invisible())
  st$uses <- c(st$uses, name)
  invisible()
}

.current_frame <- function(st) if (st$in_local) "local" else "global"

.bind <- function(name, st, frame) {
  if (frame == "global") {
    st$defs <- c(st$defs, name)
    st$bound <- c(st$bound, name)
  } else if (frame == "local") {
    st$local <- c(st$local, name)
  }
  invisible()
}

.effect <- function(effect, st) st$effects <- c(st$effects, effect)

.snapshot <- function(st) list(bound = st$bound, local = st$local)

.restore <- function(st, snap) {
  st$bound <- snap$bound
  st$local <- snap$local
}

# Code that may or may not run (a branch, a loop body, a function literal) contributes its defs,
# uses and effects, but nothing it binds counts as certainly bound afterwards.
.walk_conditionally <- function(e, st, indices) {
  snap <- .snapshot(st)
  for (i in indices) .walk(e[[i]], st)
  .restore(st, snap)
}

.walk_in_local_frame <- function(e, st, indices) {
  saved_local <- st$local
  saved_in_local <- st$in_local
  st$in_local <- TRUE
  for (i in indices) .walk(e[[i]], st)
  st$local <- saved_local
  st$in_local <- saved_in_local
}

.walk_args <- function(e, st, from = 2L) {
  n <- length(e)
  if (n >= from) for (i in from:n) .walk(e[[i]], st)
  invisible()
}

# ---- Argument matching -------------------------------------------------------------------------------

.is_missing_arg <- function(x) identical(x, quote(expr = ))

# Matches the arguments of call `e` against `formals` (a character vector, possibly containing "...")
# the way R does for exact and partial names and positions. Returns the indices into `e`: `args`, a
# named integer vector (formal -> index), and `dots`, the indices that went to `...`.
.match_args <- function(e, formals) {
  args <- integer()
  dots <- integer()
  n <- length(e)
  if (n < 2L) return(list(args = args, dots = dots))
  tags <- names(e)
  if (is.null(tags)) tags <- character(n)
  dots_at <- match("...", formals)
  before_dots <- if (is.na(dots_at)) formals else formals[seq_len(dots_at - 1L)]
  positional <- integer()
  for (i in 2:n) {
    if (.is_missing_arg(e[[i]])) next
    tag <- tags[i]
    if (!nzchar(tag)) {
      positional <- c(positional, i)
      next
    }
    formal <- if (tag %in% formals && tag != "...") tag else {
      partial <- before_dots[startsWith(before_dots, tag)]
      if (length(partial) == 1L) partial else NA_character_
    }
    if (!is.na(formal) && !(formal %in% names(args))) args[[formal]] <- i
    else if (!is.na(dots_at)) dots <- c(dots, i)
  }
  free <- setdiff(before_dots, names(args))
  for (i in positional) {
    if (length(free)) {
      args[[free[1L]]] <- i
      free <- free[-1L]
    } else if (!is.na(dots_at)) {
      dots <- c(dots, i)
    }
  }
  list(args = args, dots = sort(dots))
}

.arg_index <- function(m, formal) {
  i <- m$args[formal]
  if (is.na(i)) 0L else unname(i)
}

.is_string <- function(x) is.character(x) && length(x) == 1L && !is.na(x)

.is_true_literal <- function(x) identical(x, TRUE) || identical(x, quote(T))

.call_name <- function(x) {
  if (!is.call(x)) return("")
  head <- x[[1L]]
  if (is.symbol(head)) return(as.character(head))
  if (is.call(head) && length(head) == 3L &&
      (identical(head[[1L]], quote(`::`)) || identical(head[[1L]], quote(`:::`))))
    return(as.character(head[[3L]]))
  ""
}

# TRUE when expression `x`, given as envir/pos/env argument, denotes the global environment.
.is_global_env_expr <- function(x, st) {
  if (is.symbol(x)) return(as.character(x) == ".GlobalEnv")
  if (is.numeric(x)) return(length(x) == 1L && !is.na(x) && x == 1)
  fn <- .call_name(x)
  if (fn == "globalenv") return(length(x) == 1L)
  if (fn %in% c("environment", "parent.frame")) return(length(x) == 1L && !st$in_local)
  if (fn == "as.environment" && length(x) == 2L) {
    where <- x[[2L]]
    return(identical(where, 1) || identical(where, 1L) || identical(where, ".GlobalEnv"))
  }
  FALSE
}

# Frame an assignment-like call writes to: "global", "local" (the current non-global frame) or "other".
.target_frame <- function(e, m, env_formals, st) {
  for (formal in env_formals) {
    i <- .arg_index(m, formal)
    if (i > 0L) return(if (.is_global_env_expr(e[[i]], st)) "global" else "other")
  }
  .current_frame(st)
}

# ---- The walker ------------------------------------------------------------------------------------
# Visits a parsed expression in R's evaluation order, recording into `st`.

.walk <- function(e, st) {
  if (is.symbol(e)) return(.use(as.character(e), st))
  if (!is.call(e)) return(invisible())
  if (st$depth >= .max_walk_depth) return(.walk_flat(e, st))
  st$depth <- st$depth + 1L
  on.exit(st$depth <- st$depth - 1L)
  head <- e[[1L]]
  pkg <- NULL
  if (is.symbol(head)) {
    fn <- as.character(head)
  } else if (is.call(head) && length(head) == 3L &&
             (identical(head[[1L]], quote(`::`)) || identical(head[[1L]], quote(`:::`)))) {
    pkg <- as.character(head[[2L]])
    fn <- as.character(head[[3L]])
  } else {
    .walk(head, st)
    return(.walk_args(e, st))
  }

  if (is.null(pkg)) {
    switch(fn,
      "{" = , "(" = return(.walk_args(e, st)),
      "<-" = , "=" = return(.walk_assignment(e, st, super = FALSE)),
      "<<-" = return(.walk_assignment(e, st, super = TRUE)),
      "if" = return(.walk_if(e, st)),
      "for" = return(.walk_for(e, st)),
      "while" = , "repeat" = return(.walk_conditionally(e, st, seq_len(length(e))[-1L])),
      "function" = return(.walk_function_literal(e, st)),
      "&&" = , "||" = {
        .use(fn, st)
        if (length(e) >= 2L) .walk(e[[2L]], st)
        if (length(e) >= 3L) .walk_conditionally(e, st, 3L)
        return(invisible())
      },
      "~" = , "break" = , "next" = , "::" = , ":::" = return(invisible()))
    .use(fn, st)
    if (length(e) == 3L && fn %in% .chain_operators &&
        (fn == "%<>%" || .is_operator_call(e[[2L]]))) {
      return(.walk_operator_chain(e, st))
    }
  } else if (pkg %in% .volatile_packages) {
    st$volatile <- TRUE
  }

  kind <- .call_kinds[[fn]]
  if (is.null(kind)) return(.walk_args(e, st))
  switch(kind,
    quoted = invisible(),
    bquote = .walk_bquote(e, st),
    local = {
      m <- .match_args(e, c("expr", "envir"))
      envir <- .arg_index(m, "envir")
      if (envir > 0L) .walk(e[[envir]], st)
      .walk_in_local_frame(e, st, setdiff(seq_len(length(e))[-1L], envir))
    },
    with = {
      m <- .match_args(e, c("data", "expr", "..."))
      data <- .arg_index(m, "data")
      if (data > 0L) .walk(e[[data]], st)
      .walk_in_local_frame(e, st, setdiff(seq_len(length(e))[-1L], data))
    },
    eval = .walk_eval(e, st),
    assign = .walk_assign_call(e, st),
    delayed_assign = .walk_delayed_assign(e, st),
    active_binding = .walk_active_binding(e, st),
    rm = .walk_rm(e, st),
    data = .walk_data(e, st),
    library = .walk_library(e, st, if (fn == "require") .require_formals else .library_formals),
    try = {
      m <- .match_args(e, c("expr", "silent", "outFile"))
      expr <- .arg_index(m, "expr")
      for (i in seq_len(length(e))[-1L]) {
        if (i == expr) .walk_conditionally(e, st, i) else .walk(e[[i]], st)
      }
    },
    try_catch = {
      m <- .match_args(e, c("expr", "...", "finally"))
      expr <- .arg_index(m, "expr")
      for (i in seq_len(length(e))[-1L]) {
        if (i == expr) .walk_conditionally(e, st, i) else .walk(e[[i]], st)
      }
    },
    index = {
      .walk_args(e, st)
      if (length(e) == 3L && .is_global_env_expr(e[[2L]], st)) .walk_global_lookup(e[[3L]], st, by_name = FALSE)
    },
    switch = {
      if (length(e) >= 2L) .walk(e[[2L]], st)
      if (length(e) >= 3L) for (i in 3:length(e)) .walk_conditionally(e, st, i)
    },
    member = {
      if (length(e) >= 2L) .walk(e[[2L]], st)
      if (length(e) == 3L && .is_global_env_expr(e[[2L]], st)) .walk_global_lookup(e[[3L]], st)
    },
    reflect = .walk_reflect(fn, e, st),
    list_env = .walk_list_env(fn, e, st),
    subset = {
      .walk_args(e, st)
      if (length(e) >= 3L && any(vapply(as.list(e)[-(1:2)], .call_name, "") == ":=")) {
        .modify_in_place(e[[2L]], st)
      }
    },
    in_place = {
      .walk_args(e, st)
      if (length(e) >= 2L) .modify_in_place(e[[2L]], st)
    },
    {
      .walk_args(e, st)
      .note_call(kind, fn, e, st)
    })
  invisible()
}

.is_operator_call <- function(x) {
  is.call(x) && length(x) == 3L && is.symbol(x[[1L]]) && as.character(x[[1L]]) %in% .chain_operators
}

# a + b - c + ... nests to the left as deep as the chain is long (ggplot layers, long sums), while
# R's parser bounds bracketed nesting: chains are walked iteratively, operands in evaluation order.
.walk_operator_chain <- function(e, st) {
  operands <- list()
  compound <- FALSE
  while (.is_operator_call(e)) {
    op <- as.character(e[[1L]])
    .use(op, st)
    compound <- compound || op == "%<>%"
    operands[length(operands) + 1L] <- list(e[[3L]])
    e <- e[[2L]]
  }
  .walk(e, st)
  for (i in rev(seq_along(operands))) .walk(operands[[i]], st)
  # magrittr's x %<>% f() %>% g() assigns the result back to x.
  if (compound) .modify_in_place(e, st)
  invisible()
}

# Beyond .max_walk_depth nested calls, a subtree is scanned flat: every name in it counts as a use
# (quoted parts included) and its draws and clock calls still count; bindings in it are missed.
.walk_flat <- function(e, st) {
  names <- unique(all.names(e))
  for (name in setdiff(names, .syntax_names)) .use(name, st)
  if (any(names %in% .rng_draw_functions)) .note_call("rng", "", e, st)
  if (any(names %in% c(.volatile_functions, .volatile_packages))) st$volatile <- TRUE
  invisible()
}

.note_call <- function(kind, fn, e, st) {
  switch(kind,
    rng = {
      .use(".Random.seed", st)
      .bind(".Random.seed", st, "global")
      .effect("rng", st)
    },
    set_seed = {
      .bind(".Random.seed", st, "global")
      .effect("rng", st)
    },
    rng_kind = {
      .use(".Random.seed", st)
      .bind(".Random.seed", st, "global")
      .effect("rng", st)
    },
    volatile = st$volatile <- TRUE,
    reader = .note_file_read(fn, e, st),
    options = if (.sets_state(e)) .effect("options", st),
    par = if (.sets_state(e)) .effect("par", st),
    wd = .effect("wd", st),
    envvars = .effect("envvars", st),
    locale = .effect("locale", st),
    search = .effect("search", st))
  invisible()
}

# options()/par() change state unless every argument is a query: a bare character string such as
# options("digits"), or par(no.readonly = TRUE).
.sets_state <- function(e) {
  n <- length(e)
  if (n < 2L) return(FALSE)
  tags <- names(e)
  if (is.null(tags)) tags <- character(n)
  for (i in 2:n) {
    if (tags[i] == "no.readonly") next
    if (nzchar(tags[i]) || !is.character(e[[i]])) return(TRUE)
  }
  FALSE
}

# ---- Assignments -------------------------------------------------------------------------------------

.is_function_literal <- function(x) is.call(x) && identical(x[[1L]], quote(`function`))

.walk_assignment <- function(e, st, super) {
  if (length(e) != 3L) return(.walk_args(e, st))
  target <- e[[2L]]
  simple <- is.symbol(target) || .is_string(target)
  frame <- if (super) "global" else .current_frame(st)
  # A function bound to a global name is analysed where it is called (.closure_uses).
  if (!(simple && frame == "global" && .is_function_literal(e[[3L]]))) .walk(e[[3L]], st)
  root <- .assignment_root(target, st)
  if (is.null(root)) return(invisible())
  if (!simple) .use(root, st)
  .bind(root, st, frame)
}

# The variable a (possibly replacement) assignment target binds: x for x, x$a$b, names(x),
# levels(x$f)[2], attr(x, "a"), x@s. Index and extra arguments on the way are walked as uses.
.assignment_root <- function(target, st) {
  repeat {
    if (is.symbol(target)) {
      name <- as.character(target)
      return(if (nzchar(name)) name else NULL)
    }
    if (.is_string(target)) return(target)
    if (!is.call(target) || length(target) < 2L) return(NULL)
    member <- identical(target[[1L]], quote(`$`)) || identical(target[[1L]], quote(`@`))
    if (!member && length(target) >= 3L) for (i in 3:length(target)) .walk(target[[i]], st)
    target <- target[[2L]]
  }
}

.modify_in_place <- function(target, st) {
  while (is.call(target) && length(target) >= 2L) target <- target[[2L]]
  if (!is.symbol(target)) return(invisible())
  name <- as.character(target)
  if (!nzchar(name)) return(invisible())
  .use(name, st)
  .bind(name, st, .current_frame(st))
}

.walk_assign_call <- function(e, st) {
  m <- .match_args(e, c("x", "value", "pos", "envir", "inherits", "immediate"))
  x <- .arg_index(m, "x")
  value <- .arg_index(m, "value")
  name <- if (x > 0L && .is_string(e[[x]])) e[[x]] else NULL
  frame <- .target_frame(e, m, c("envir", "pos"), st)
  closure <- !is.null(name) && frame == "global" && value > 0L && .is_function_literal(e[[value]])
  for (i in seq_len(length(e))[-1L]) if (!(closure && i == value)) .walk(e[[i]], st)
  if (!is.null(name)) .bind(name, st, frame)
}

.walk_delayed_assign <- function(e, st) {
  m <- .match_args(e, c("x", "value", "eval.env", "assign.env"))
  x <- .arg_index(m, "x")
  value <- .arg_index(m, "value")
  for (i in seq_len(length(e))[-1L]) {
    # The promise may never be forced.
    if (i == value) .walk_conditionally(e, st, i) else .walk(e[[i]], st)
  }
  if (x > 0L && .is_string(e[[x]])) .bind(e[[x]], st, .target_frame(e, m, "assign.env", st))
}

.walk_active_binding <- function(e, st) {
  m <- .match_args(e, c("sym", "fun", "env"))
  sym <- .arg_index(m, "sym")
  env <- .arg_index(m, "env")
  .walk_args(e, st)
  if (sym == 0L || env == 0L || !.is_global_env_expr(e[[env]], st)) return(invisible())
  name <- e[[sym]]
  if (.call_name(name) == "quote" && length(name) == 2L && is.symbol(name[[2L]])) {
    name <- as.character(name[[2L]])
  }
  if (.is_string(name)) .bind(name, st, "global")
}

.walk_eval <- function(e, st) {
  m <- .match_args(e, c("expr", "envir", "enclos"))
  expr <- .arg_index(m, "expr")
  envir <- .arg_index(m, "envir")
  global <- envir == 0L || .is_global_env_expr(e[[envir]], st)
  if (global && expr > 0L && .call_name(e) == "eval") {
    # eval() evaluates its argument's value: the code inside quote() or parse(text = "...") is what runs.
    for (i in setdiff(seq_len(length(e))[-1L], expr)) .walk(e[[i]], st)
    return(.walk_evaluated_code(e[[expr]], st))
  }
  if (global) return(.walk_args(e, st))
  others <- setdiff(seq_len(length(e))[-1L], expr)
  for (i in others) .walk(e[[i]], st)
  if (expr > 0L) .walk_in_local_frame(e, st, expr)
}

# The code an eval() in the global environment runs: quote(E) and expression(E) run E, parse(text = "literal") runs
# the literal's code; anything computed is code the analysis cannot see, a read of the whole global environment.
.walk_evaluated_code <- function(x, st) {
  fn <- .call_name(x)
  if (fn %in% c("quote", "expression") && length(x) >= 2L) {
    for (i in seq_len(length(x))[-1L]) .walk(x[[i]], st)
    return(invisible())
  }
  if (fn %in% c("parse", "str2lang", "str2expression")) {
    m <- .match_args(x, if (fn == "parse") c("file", "n", "text", "prompt", "keep.source", "srcfile", "encoding")
                        else "text")
    text <- .arg_index(m, "text")
    if (text > 0L && is.character(x[[text]]) && !anyNA(x[[text]])) {
      code <- tryCatch(parse(text = x[[text]], keep.source = FALSE), error = function(err) NULL)
      if (!is.null(code)) {
        for (inner in code) .walk(inner, st)
        return(invisible())
      }
    }
  }
  .walk(x, st)
  .reads_whole_global_env(st)
}

# A read the analysis cannot resolve to names (get(name), ls(), eval(parse(text = computed))): it may read any
# global, bound or not. Recorded as the effect "globals": the engine reads the pseudo-symbol @globals for it, whose
# version and cache key part cover every binding (names and content hashes).
.reads_whole_global_env <- function(st) {
  .effect("globals", st)
  invisible()
}

# `x` given to a reflective read: the names it denotes when it is a literal ("a", c("a", "b")), else NULL.
.literal_names <- function(x) {
  if (is.character(x) && length(x) >= 1L && !anyNA(x)) return(x)
  if (.call_name(x) == "c" && length(x) >= 2L) {
    parts <- as.list(x)[-1L]
    if (all(vapply(parts, .is_string, NA))) return(unlist(parts))
  }
  NULL
}

.reflect_use <- function(name, st) {
  st$reflected <- c(st$reflected, name)
  .use(name, st)
}

# exists("y"), get("y"), get0("y"), mget(c("a", "b")): a read of each literal name, bound or unbound (both are
# versions), in the global environment unless another environment is named; a computed name reads them all.
.walk_reflect <- function(fn, e, st) {
  formals <- switch(fn,
    exists = c("x", "where", "envir", "frame", "mode", "inherits"),
    get = c("x", "pos", "envir", "mode", "inherits"),
    get0 = c("x", "envir", "mode", "inherits", "ifnotfound"),
    mget = c("x", "envir", "mode", "ifnotfound", "inherits"))
  .walk_args(e, st)
  m <- .match_args(e, formals)
  x <- .arg_index(m, "x")
  if (x == 0L) return(invisible())
  for (formal in c("envir", "pos", "where")) {
    at <- .arg_index(m, formal)
    if (at > 0L && !.is_global_env_expr(e[[at]], st)) return(invisible())
  }
  names <- .literal_names(e[[x]])
  if (is.null(names)) return(.reads_whole_global_env(st))
  for (name in names) .reflect_use(name, st)
  invisible()
}

# .GlobalEnv$x, globalenv()[["x"]]: a read of x; a computed index (globalenv()[[nm]]) reads them all. `by_name`: `$`,
# whose symbol is the name itself.
.walk_global_lookup <- function(index, st, by_name = TRUE) {
  if (by_name && is.symbol(index)) return(.reflect_use(as.character(index), st))
  if (.is_string(index)) return(.reflect_use(index, st))
  .reads_whole_global_env(st)
}

# ls(), objects(), as.list(globalenv()), eapply(.GlobalEnv, f): a read of the whole global environment (which names
# exist, and for as.list/eapply their values). ls() of another environment reads only that one.
.walk_list_env <- function(fn, e, st) {
  .walk_args(e, st)
  if (fn %in% c("ls", "objects")) {
    m <- .match_args(e, c("name", "pos", "envir", "all.names", "pattern", "sorted"))
    for (formal in c("name", "envir", "pos")) {
      at <- .arg_index(m, formal)
      if (at > 0L && !.is_global_env_expr(e[[at]], st)) return(invisible())
    }
    return(.reads_whole_global_env(st))
  }
  if (length(e) >= 2L && .is_global_env_expr(e[[2L]], st)) .reads_whole_global_env(st)
  invisible()
}

.walk_rm <- function(e, st) {
  m <- .match_args(e, c("...", "list", "pos", "envir", "inherits"))
  global <- .target_frame(e, m, c("envir", "pos"), st) == "global"
  for (i in m$dots) {
    arg <- e[[i]]
    if (is.symbol(arg)) {
      if (global) st$deletes <- c(st$deletes, as.character(arg))
    } else if (.is_string(arg)) {
      if (global) st$deletes <- c(st$deletes, arg)
    } else {
      .walk(arg, st)
    }
  }
  list_at <- .arg_index(m, "list")
  for (i in setdiff(seq_len(length(e))[-1L], m$dots)) .walk(e[[i]], st)
  if (list_at > 0L && global) {
    names <- .literal_strings(e[[list_at]])
    if (any(c("ls", "objects") %in% all.names(e[[list_at]]))) {
      st$deletes <- c(st$deletes, "*")
    } else if (!is.null(names)) {
      st$deletes <- c(st$deletes, names)
    }
  }
  invisible()
}

# data(iris, "mtcars", list = "cars") binds those data sets (names quoted, not uses).
.walk_data <- function(e, st) {
  m <- .match_args(e, c("...", "list", "package", "lib.loc", "verbose", "envir", "overwrite"))
  frame <- .target_frame(e, m, "envir", st)
  names <- character()
  for (i in m$dots) {
    arg <- e[[i]]
    if (is.symbol(arg)) names <- c(names, as.character(arg))
    else if (.is_string(arg)) names <- c(names, arg)
    else .walk(arg, st)
  }
  for (i in setdiff(seq_len(length(e))[-1L], m$dots)) .walk(e[[i]], st)
  list_at <- .arg_index(m, "list")
  if (list_at > 0L) names <- c(names, .literal_strings(e[[list_at]]))
  for (name in names) .bind(name, st, frame)
  invisible()
}

# The strings of "a" or c("a", "b"); NULL when `x` is anything else.
.literal_strings <- function(x) {
  if (is.character(x)) return(x[!is.na(x)])
  if (.call_name(x) != "c") return(NULL)
  out <- character()
  for (i in seq_len(length(x))[-1L]) {
    if (!is.character(x[[i]])) return(NULL)
    out <- c(out, x[[i]])
  }
  out
}

# ---- Other special forms ------------------------------------------------------------------------------

.walk_if <- function(e, st) {
  if (length(e) >= 2L) .walk(e[[2L]], st)
  before <- .snapshot(st)
  if (length(e) >= 3L) .walk(e[[3L]], st)
  if (length(e) < 4L) return(.restore(st, before))
  after_yes <- .snapshot(st)
  .restore(st, before)
  .walk(e[[4L]], st)
  # Bound after the if: what both branches bind.
  st$bound <- intersect(after_yes$bound, st$bound)
  st$local <- intersect(after_yes$local, st$local)
}

.walk_for <- function(e, st) {
  if (length(e) != 4L) return(.walk_args(e, st))
  .walk(e[[3L]], st)
  if (is.symbol(e[[2L]])) .bind(as.character(e[[2L]]), st, .current_frame(st))
  .walk_conditionally(e, st, 4L)
}

# A function literal that is not bound to a global name (lapply(xs, function(x) x * k),
# tryCatch handlers, IIFEs) is most likely called during the cell: its body counts, conditionally.
.walk_function_literal <- function(e, st) {
  snap <- .snapshot(st)
  saved_in_local <- st$in_local
  st$in_local <- TRUE
  fmls <- if (length(e) >= 2L) e[[2L]] else NULL
  st$local <- c(st$local, names(fmls))
  for (i in seq_along(fmls)) .walk(fmls[[i]], st)
  if (length(e) >= 3L) .walk(e[[3L]], st)
  st$in_local <- saved_in_local
  .restore(st, snap)
}

# bquote() evaluates only the .() and ..() parts of its template.
.walk_bquote <- function(e, st) {
  m <- .match_args(e, c("expr", "where", "splice"))
  expr <- .arg_index(m, "expr")
  for (i in seq_len(length(e))[-1L]) {
    if (i == expr) .walk_unquoted(e[[i]], st) else .walk(e[[i]], st)
  }
}

.walk_unquoted <- function(x, st) {
  if (!is.call(x)) return(invisible())
  if (identical(x[[1L]], quote(.)) || identical(x[[1L]], quote(..))) return(.walk_args(x, st))
  for (i in seq_len(length(x))) .walk_unquoted(x[[i]], st)
}

.walk_library <- function(e, st, formals) {
  m <- .match_args(e, formals)
  package <- .arg_index(m, "package")
  only <- .arg_index(m, "character.only")
  character_only <- only > 0L && .is_true_literal(e[[only]])
  skip <- 0L
  if (package > 0L) {
    arg <- e[[package]]
    named <- FALSE
    if (.is_string(arg)) {
      st$attaches <- c(st$attaches, arg)
      named <- TRUE
    } else if (!character_only) {
      # library(pkg) quotes its argument: not a use.
      skip <- package
      if (is.symbol(arg)) {
        st$attaches <- c(st$attaches, as.character(arg))
        named <- TRUE
      }
    }
    # A package named in the code is an attach the cache can repeat (the search path is part of the cell's entry);
    # a computed one changes the search path in a way only running can tell.
    if (!named) .effect("search", st)
  }
  for (i in setdiff(seq_len(length(e))[-1L], skip)) .walk(e[[i]], st)
}

.note_file_read <- function(fn, e, st) {
  path <- .path_argument(e)
  if (path == 0L) {
    tags <- names(e)
    # readLines() and scan() without a source read standard input.
    if (fn == "readLines" || (fn == "scan" && !("text" %in% tags))) st$volatile <- TRUE
    return(invisible())
  }
  arg <- e[[path]]
  if (.call_name(arg) == "stdin") {
    st$volatile <- TRUE
    return(invisible())
  }
  if (!.is_string(arg)) return(invisible())
  if (grepl("^[A-Za-z][A-Za-z0-9+.-]*://", arg) || arg %in% c("stdin", "")) {
    st$volatile <- TRUE
  } else if (fn != "fromJSON" || grepl("\\.json$", arg, ignore.case = TRUE) ||
             isTRUE(suppressWarnings(file.exists(arg)))) {
    st$files <- c(st$files, arg)
  }
  invisible()
}

.path_argument <- function(e) {
  n <- length(e)
  if (n < 2L) return(0L)
  tags <- names(e)
  if (is.null(tags)) tags <- character(n)
  named <- match(.file_argument_names, tags)
  named <- named[!is.na(named)]
  if (length(named)) return(named[1L])
  for (i in 2:n) if (!nzchar(tags[i]) && !.is_missing_arg(e[[i]])) return(i)
  0L
}

# ---- Closures -----------------------------------------------------------------------------------------

.top_level_closure <- function(name, env) {
  if (!exists(name, envir = env, inherits = FALSE)) return(NULL)
  f <- get(name, envir = env, inherits = FALSE)
  if (typeof(f) != "closure" || !identical(environment(f), env)) return(NULL)
  f
}

.closure_uses_unsafe <- function(names, env) {
  seen <- character()
  found <- character()
  draws_random <- FALSE
  reflected <- character()  # exists("y") and the like in the closures: uses of y whether bound or not
  reads_globals <- FALSE     # ls() and the like in the closures
  queue <- unique(names)
  while (length(queue)) {
    name <- queue[[1L]]
    queue <- queue[-1L]
    if (name %in% seen) next
    seen <- c(seen, name)
    f <- .top_level_closure(name, env)
    if (is.null(f)) next
    globals <- tryCatch(suppressWarnings(codetools::findGlobals(f, merge = TRUE)),
                        error = function(e) character())
    found <- union(found, globals)
    walked <- .closure_walk(f)
    if (!draws_random) draws_random <- "rng" %in% walked$effects
    reflected <- union(reflected, walked$reflected)
    if ("globals" %in% walked$effects) reads_globals <- TRUE
    queue <- c(queue, setdiff(globals, seen))
  }
  in_base <- vapply(found, exists, NA, envir = baseenv(), inherits = FALSE)
  in_env <- vapply(found, exists, NA, envir = env, inherits = FALSE)
  out <- found[!in_base | in_env]
  if (draws_random) out <- c(out, ".Random.seed")
  if (reads_globals) out <- c(out, "@globals")  # the engine's pseudo-symbol for the whole global environment
  .sorted_set(c(out, reflected))
}

# Walks the closure as a function literal with the cell walker: namespaced draws (stats::rnorm), reflective reads
# (exists("y") in a function the cell calls). Returns the walk's effects and reflected names.
.closure_walk <- function(f) {
  st <- .new_walk_state()
  literal <- call("function", formals(f), body(f))
  ok <- tryCatch({
    .walk_function_literal(literal, st)
    TRUE
  }, error = function(e) FALSE)
  if (!ok) return(list(effects = character(), reflected = character()))
  list(effects = st$effects, reflected = st$reflected)
}

