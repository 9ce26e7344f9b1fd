# knit.R: one R Markdown chunk, or one inline expression, rendered by knitr's own machinery (evaluate, knit_print,
# output hooks, chunk options) for run-notebook. Must not know which chunks run or what the cache serves: the engine
# decides that, and run-notebook hands each chunk it runs to .knit_chunk through the evaluator.
#
# A chunk is knitted as a one-chunk document (knitr::knit(text = ...)) in the global environment, with the state
# rmarkdown::render gives knitr (render_markdown(), Markdown chunk patterns, tidy = FALSE, error = FALSE, the format's
# figure options, opts_knit's rmarkdown.*) and interactive() FALSE. What knitr keeps between the chunks of one
# document is carried by the caller: what earlier chunks set with opts_chunk$set(), knit_hooks$set() and
# opts_hooks$set() comes in as `carried` and goes out as `carried` (the state after the chunk, R code), so that a chunk
# served from the cache passes it on without R. Figures come back as bytes (knitr writes them under a temporary
# base.dir) and widget dependencies as inline HTML, so that the cache can replay them.

# The chunk options rmarkdown::render sets before its format's own (knitr's defaults below them).
.knit_render_defaults <- list(tidy = FALSE, error = FALSE)

# request (R code of a list): header (the text between "{r" and "}", options resolved), source (the chunk's code as
# written, each line with its indent), indent (what precedes the fences), format (the output format's chunk options),
# carried (R code: what earlier chunks set, or NULL), pandoc_to, fig_path (relative to the document).
.knit_chunk <- function(code, request) {
  r <- eval(parse(text = request, keep.source = FALSE)[[1L]], baseenv())
  if (!requireNamespace("knitr", quietly = TRUE)) {
    stop("rendering R Markdown needs the knitr package (Debian: r-cran-knitr)", call. = FALSE)
  }
  base_dir <- tempfile("ripple-knit-")
  dir.create(base_dir)
  on.exit(unlink(base_dir, recursive = TRUE), add = TRUE)
  old_interactive <- .native("ripple_set_interactive", FALSE)
  on.exit(.native("ripple_set_interactive", old_interactive), add = TRUE)
  # The live objects when this session made them (hooks keep their closures), else rebuilt from the code.
  carried <- .knit_live[[r$carried]]
  if (is.null(carried)) carried <- eval(parse(text = r$carried, keep.source = FALSE)[[1L]], globalenv())
  .knit_with_state(r$pandoc_to, {
    knitr::opts_knit$set(base.dir = base_dir)
    knitr::opts_chunk$set(fig.path = r$fig_path)
    knitr::opts_chunk$set(r$format)
    base <- list(opts_chunk = knitr::opts_chunk$get(), knit_hooks = knitr::knit_hooks$get(),
                 opts_hooks = knitr::opts_hooks$get())
    knitr::opts_chunk$set(carried$opts_chunk)
    knitr::knit_hooks$set(carried$knit_hooks)
    knitr::opts_hooks$set(carried$opts_hooks)
    after <- NULL
    error_hook <- knitr::knit_hooks$get("error")
    error_shown <- FALSE # error = TRUE: knitr shows the error and goes on
    knitr::knit_hooks$set(document = function(x) {
      after <<- list(opts_chunk = knitr::opts_chunk$get(), knit_hooks = knitr::knit_hooks$get(),
                     opts_hooks = knitr::opts_hooks$get())
      x
    }, error = function(x, options) {
      error_shown <<- TRUE
      error_hook(x, options)
    })
    ours <- knitr::knit_hooks$get(c("document", "error"))
    knitr::knit_meta(clean = TRUE)
    newline <- if (endsWith(r$source, "\n") || !nzchar(r$source)) "" else "\n"
    text <- paste0(r$indent, "```{r ", r$header, "}\n", r$source, newline, r$indent, "```\n")
    failure <- NULL
    markdown <- tryCatch(knitr::knit(text = text, quiet = TRUE, envir = globalenv()),
                         error = function(e) { failure <<- e; "" },
                         interrupt = function(e) { failure <<- structure(list(), class = "ripple_interrupt"); "" })
    meta <- knitr::knit_meta(clean = TRUE)
  })
  if (inherits(failure, "ripple_interrupt")) return(failure)
  if (!is.null(after) && identical(after$knit_hooks$error, ours$error)) after$knit_hooks$error <- error_hook
  left <- if (is.null(after)) list(code = r$carried, value = carried) else .knit_carried(base, after, ours)
  if (!is.null(left$value)) assign(left$code, left$value, envir = .knit_live)
  list(markdown = paste(markdown, collapse = "\n"),
       knit = list(figures = .knit_figures(base_dir),
                   error_shown = error_shown,
                   carried = left$code,
                   dependencies = .knit_dependencies(meta)),
       error = if (!is.null(failure)) .knit_error(failure))
}

# What the chunk left set beyond `base` (knitr's state before the document's own settings): code (R code, "NULL" for
# none) and value. Our document hook counts only if the chunk replaced it (our error hook is replaced by the one it
# wrapped before this is called).
.knit_carried <- function(base, after, ours) {
  changed <- function(now, before, skip = character()) {
    keys <- Filter(function(k) !identical(now[[k]], before[[k]]), setdiff(names(now), skip))
    now[keys]
  }
  hooks <- changed(after$knit_hooks, base$knit_hooks)
  hooks <- hooks[!vapply(names(hooks), function(k) identical(hooks[[k]], ours[[k]]), TRUE)]
  carried <- list(opts_chunk = changed(after$opts_chunk, base$opts_chunk, c("fig.path", .knit_volatile_options)),
                  knit_hooks = hooks, opts_hooks = changed(after$opts_hooks, base$opts_hooks))
  carried <- Filter(length, carried)
  if (!length(carried)) return(list(code = "NULL", value = NULL))
  list(code = .knit_deparse(carried), value = carried)
}

# What earlier chunks of this session left set, by its code: hooks made by a package function keep their enclosing
# environment (pillar's source hook calls the hook it replaced), which their deparsed code cannot.
.knit_live <- new.env(parent = emptyenv())

# Options knitr itself moves while it works (never a user's setting to carry to the next chunk).
.knit_volatile_options <- c("label", "code", "params.src", "engine")

# Runs `expr` with knitr set up as rmarkdown::render sets it up, and puts knitr's state back afterwards.
.knit_with_state <- function(pandoc_to, expr) {
  optk <- knitr::opts_knit$get()
  optc <- knitr::opts_chunk$get()
  hooks <- knitr::knit_hooks$get()
  on.exit({
    knitr::opts_knit$restore(optk)
    knitr::opts_chunk$restore(optc)
    knitr::knit_hooks$restore(hooks)
  }, add = TRUE)
  patterns <- knitr::knit_patterns$get()
  on.exit(knitr::knit_patterns$restore(patterns), add = TRUE)
  knitr::opts_chunk$restore()
  knitr::render_markdown()
  knitr::pat_md() # else knit(text = ...) guesses the syntax from the text (`<% x %>` would be brew's)
  knitr::opts_chunk$set(.knit_render_defaults)
  knitr::opts_knit$set(rmarkdown.pandoc.from = "markdown", rmarkdown.pandoc.to = pandoc_to,
                       rmarkdown.version = 2, rmarkdown.runtime = "static", out.format = "markdown")
  expr
}

.knit_deparse <- function(value) {
  paste(deparse(value, control = c("keepNA", "keepInteger", "niceNames", "showAttributes")), collapse = "\n")
}

# The files knitr wrote (figures), each as its path relative to the document and its bytes in base64.
.knit_figures <- function(base_dir) {
  files <- list.files(base_dir, recursive = TRUE, all.files = TRUE)
  lapply(sort(files), function(f) list(path = f, base64 = xfun::base64_encode(file.path(base_dir, f))))
}

# htmltools dependencies the chunk's outputs declared (widgets), each as inline HTML for the page's head.
.knit_dependencies <- function(meta) {
  deps <- Filter(function(m) inherits(m, "html_dependency"), meta)
  lapply(deps, function(d) list(name = d$name, version = as.character(d$version), html = .dependency_html(d)))
}

.knit_error <- function(e) {
  call <- conditionCall(e)
  message <- conditionMessage(e)
  first <- if (is.null(call)) paste0("Error: ", message)
           else paste0("Error in ", paste(deparse(call, nlines = 1L), collapse = ""), ": ", message)
  structure(list(ename = "Error", evalue = message, traceback = first), class = "ripple_error")
}

# An inline `r expr` as knitr writes it into the text (its inline hook; knit_asis as is), with interactive() FALSE.
.knit_inline <- function(value, pandoc_to) {
  old_interactive <- .native("ripple_set_interactive", FALSE)
  on.exit(.native("ripple_set_interactive", old_interactive), add = TRUE)
  force(value)
  if (!requireNamespace("knitr", quietly = TRUE)) stop("rendering R Markdown needs the knitr package", call. = FALSE)
  text <- .knit_with_state(pandoc_to, {
    if (inherits(value, "knit_asis")) as.character(value) else knitr::knit_hooks$get("inline")(value)
  })
  cat(paste(text, collapse = ""))
}
