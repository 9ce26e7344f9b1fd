# knit.R: one R Markdown chunk, or one inline expression, rendered by knitr's own machinery (evaluate, knit_print,
# output hooks, chunk options) for run-notebook. Must not know which chunks run or what the cache serves: the engine
# decides that, and run-notebook hands each chunk it runs to .knit_chunk through the evaluator.
#
# A chunk is knitted as a one-chunk document (knitr::knit(text = ...)) in the global environment, with the state
# rmarkdown::render gives knitr (render_markdown(), tidy = FALSE, error = FALSE, the format's figure options,
# opts_knit's rmarkdown.*) and interactive() FALSE. What knitr keeps between chunks of one document is carried by the
# caller: opts_chunk$set() of earlier chunks comes in as `defaults` and goes out as `opts_chunk` (the state after the
# chunk), so a chunk served from the cache passes it on without R. Figures come back as bytes (knitr writes them
# under a temporary base.dir) and widget dependencies as inline HTML, so that the cache can replay them.

# The chunk options rmarkdown::render sets before its format's own (knitr's defaults below them).
.knit_render_defaults <- list(tidy = FALSE, error = FALSE)

# request (R code of a list): header (the text between "{r" and "}", options resolved), source (the chunk's code as
# written), format (the output format's chunk options), defaults (the chunk options earlier chunks set), pandoc_to,
# fig_path (relative to the document).
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
  .knit_with_state(r$pandoc_to, {
    knitr::opts_knit$set(base.dir = base_dir)
    knitr::opts_chunk$set(fig.path = r$fig_path)
    knitr::opts_chunk$set(r$format)
    knitr::opts_chunk$set(r$defaults)
    base <- knitr::opts_chunk$get()
    after <- base
    knitr::knit_hooks$set(document = function(x) {
      after <<- knitr::opts_chunk$get()
      x
    })
    error_hook <- knitr::knit_hooks$get("error")
    error_shown <- FALSE # error = TRUE: knitr shows the error and goes on
    knitr::knit_hooks$set(error = function(x, options) {
      error_shown <<- TRUE
      error_hook(x, options)
    })
    knitr::knit_meta(clean = TRUE)
    text <- paste0("```{r ", r$header, "}\n", r$source, "\n```\n")
    failure <- NULL
    markdown <- tryCatch(knitr::knit(text = text, quiet = TRUE, envir = globalenv()),
                         error = function(e) { failure <<- e; "" },
                         interrupt = function(e) { failure <<- structure(list(), class = "ripple_interrupt"); "" })
    meta <- knitr::knit_meta(clean = TRUE)
  })
  if (inherits(failure, "ripple_interrupt")) return(failure)
  changed <- Filter(function(k) !identical(after[[k]], .knit_format_base(r)[[k]]), names(after))
  changed <- setdiff(changed, c("fig.path", .knit_volatile_options))
  list(markdown = paste(markdown, collapse = "\n"),
       knit = list(figures = .knit_figures(base_dir),
                   error_shown = error_shown,
                   opts_chunk = if (length(changed)) .knit_deparse(after[changed]) else "",
                   dependencies = .knit_dependencies(meta)),
       error = if (!is.null(failure)) .knit_error(failure))
}

# Options knitr itself moves while it works (never a user's setting to carry to the next chunk).
.knit_volatile_options <- c("label", "code", "params.src", "engine")

# The chunk options a chunk starts from before earlier chunks' opts_chunk$set(): knitr's, rmarkdown's, the format's.
.knit_format_base <- function(r) {
  base <- knitr::opts_chunk$get(default = TRUE)
  base[names(.knit_render_defaults)] <- .knit_render_defaults
  base$fig.path <- r$fig_path
  base[names(r$format)] <- r$format
  base
}

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
  knitr::opts_chunk$restore()
  knitr::render_markdown()
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
