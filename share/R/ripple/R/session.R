# session.R: start-up of the embedded session and the per-cell evaluation protocol that rbridge
# drives: parse, evaluate one top-level expression at a time, capture plots, format errors.

.state <- new.env(parent = emptyenv())
.state$plot_dir <- NULL
.state$devices <- integer()
.state$plot_count <- 0L

.init_session <- function(source_profiles = TRUE) {
  if (isTRUE(source_profiles)) .source_profiles()
  options(device = .plot_device,
          jupyter.base_display_func = function(data, metadata = NULL) publish_mimebundle(data, metadata),
          jupyter.rich_display = TRUE)
  if (is.null(getOption("repr.plot.width"))) options(repr.plot.width = 7)
  if (is.null(getOption("repr.plot.height"))) options(repr.plot.height = 7)
  if (is.null(getOption("repr.plot.res"))) options(repr.plot.res = 120)
  .replace_quit()
  .watch_html_printing()
  invisible(TRUE)
}

# Folders whose files are never a cell's inputs or outputs (SPEC 3): R's installation, the package libraries,
# ripple's plot folder and the user's cache folder. Each ends in "/" except the plot folders' common prefix.
.unwatched_prefixes <- function() {
  folders <- unique(c(R.home(), .libPaths(), normalizePath(.libPaths(), mustWork = FALSE),
                      path.expand("~/.cache"), Sys.getenv("XDG_CACHE_HOME")))
  folders <- folders[nzchar(folders)]
  c(paste0(sub("/+$", "", folders), "/"),
    file.path(normalizePath(tempdir(), mustWork = FALSE), "ripple-plots-"))
}

# Runs ripple's own work inside a cell (a graph drawn by graphviz) without counting its files and programs as the
# cell's.
.unwatched <- function(expr) {
  .native("ripple_watch_pause", TRUE)
  on.exit(.native("ripple_watch_pause", FALSE))
  expr
}

# Like R: Rprofile.site into the base environment, then the user's profile into the global one.
.source_profiles <- function() {
  site <- Sys.getenv("R_PROFILE", file.path(R.home("etc"), "Rprofile.site"))
  user <- Sys.getenv("R_PROFILE_USER", "")
  if (!nzchar(user)) user <- if (file.exists(".Rprofile")) ".Rprofile" else path.expand("~/.Rprofile")
  for (p in list(list(site, baseenv()), list(user, globalenv()))) {
    if (nzchar(p[[1]]) && file.exists(p[[1]])) {
      tryCatch(sys.source(p[[1]], envir = p[[2]]), error = function(e)
        message("ripple: error while sourcing ", p[[1]], ": ", conditionMessage(e)))
    }
  }
}

# quit() in a cell would end the kernel process; make it a clear error instead.
.replace_quit <- function() {
  refuse <- function(...) {
    stop(structure(class = c("ripple_quit", "error", "condition"), list(
      message = paste("quit() does not end a ripple kernel; the session is still running.",
                      "Use the front end's Restart or Shut Down to stop it."),
      call = NULL)))
  }
  base <- baseenv()
  for (name in c("q", "quit")) {
    locked <- bindingIsLocked(name, base)
    if (locked) unlockBinding(name, base)
    assign(name, refuse, envir = base)
    if (locked) lockBinding(name, base)
  }
}

# --- graphics: a device opens lazily when a cell draws, one file per page ------------------

.plot_device <- function(...) {
  if (is.null(.state$plot_dir)) .state$plot_dir <- tempfile("ripple-plots-")
  dir.create(.state$plot_dir, showWarnings = FALSE, recursive = TRUE)
  .state$plot_count <- .state$plot_count + 1L
  fmt <- .plot_format()
  w <- getOption("repr.plot.width", 7)
  h <- getOption("repr.plot.height", 7)
  prefix <- file.path(.state$plot_dir, sprintf("dev%02d-", .state$plot_count))
  if (fmt == "svg") {
    grDevices::svg(paste0(prefix, "%03d.svg"), width = w, height = h, onefile = FALSE)
  } else {
    res <- getOption("repr.plot.res", 120)
    grDevices::png(paste0(prefix, "%03d.png"), width = w, height = h, units = "in", res = res)
  }
  .state$devices <- c(.state$devices, grDevices::dev.cur())
  invisible()
}

.plot_format <- function() {
  fmt <- getOption("ripple.plot.format")
  if (is.null(fmt)) {
    mimes <- getOption("jupyter.plot_mimetypes")
    fmt <- if (!is.null(mimes) && "image/svg+xml" %in% mimes && !("image/png" %in% mimes)) "svg" else "png"
  }
  if (identical(fmt, "svg")) "svg" else "png"
}

.begin_cell <- function() {
  .state$devices <- integer()
  .state$plot_dir <- NULL
  invisible()
}

# Closes the devices this cell opened and returns its plots, in drawing order.
.end_cell <- function() {
  open <- grDevices::dev.list()
  for (d in rev(.state$devices)) if (d %in% open) try(grDevices::dev.off(d), silent = TRUE)
  .state$devices <- integer()
  dir <- .state$plot_dir
  .state$plot_dir <- NULL
  if (is.null(dir)) return(NULL)
  files <- sort(list.files(dir, full.names = TRUE))
  if (length(files) == 0) return(NULL)
  w <- getOption("repr.plot.width", 7)
  h <- getOption("repr.plot.height", 7)
  res <- getOption("repr.plot.res", 120)
  svg <- grepl("\\.svg$", files)
  list(files = files, mime = ifelse(svg, "image/svg+xml", "image/png"),
       width = rep(round(w * ifelse(svg, 72, res)), length(files)),
       height = rep(round(h * ifelse(svg, 72, res)), length(files)), dir = dir)
}

# --- evaluation ----------------------------------------------------------------------------

.error_record <- function(e, calls = NULL) {
  msg <- conditionMessage(e)
  call <- .user_call(conditionCall(e))
  head <- if (!is.null(call) && !inherits(e, "ripple_quit")) {
    paste0("Error in ", paste(deparse(call, nlines = 1L), collapse = ""), " : ", msg)
  } else paste0("Error: ", msg)
  tb <- head
  if (length(calls)) {
    lines <- vapply(calls, function(cl) paste(deparse(cl, nlines = 1L, width.cutoff = 80L), collapse = ""), "")
    tb <- c(tb, paste0(seq_along(lines), ". ", lines))
  }
  structure(list(ename = class(e)[[1]], evalue = msg, traceback = tb), class = "ripple_error")
}

.interrupt_record <- function() structure(list(), class = "ripple_interrupt")

# Runs f() and turns errors and interrupts into records rather than jumps.
.guard <- function(f) {
  tryCatch(f(), error = function(e) .error_record(e), interrupt = function(i) .interrupt_record())
}

.parse_cell <- function(code) {
  tryCatch(parse(text = code, keep.source = isTRUE(getOption("keep.source")), srcfile = NULL),
           error = function(e) {
             structure(list(ename = "parse error", evalue = conditionMessage(e),
                            traceback = paste0("Error in parse: ", conditionMessage(e))),
                       class = "ripple_error")
           })
}

# The user's calls at the time of an error: the frames after our eval() (it appears twice: the
# closure and its .Internal) and before the condition machinery and our handler.
.user_calls <- function(calls) {
  ours <- quote(eval(expr, globalenv()))
  n <- length(calls)
  start <- 0L
  for (i in seq_len(n)) if (identical(calls[[i]], ours)) { start <- i; break }
  if (start == 0L) return(NULL)
  while (start < n && identical(calls[[start + 1L]], ours)) start <- start + 1L
  keep <- if (start < n) calls[(start + 1L):(n - 1L)] else list()  # drop our handler's frame
  plumbing <- c(".handleSimpleError", "stop", "signalCondition", "withCallingHandlers")
  while (length(keep) && is.name(keep[[length(keep)]][[1]]) &&
         as.character(keep[[length(keep)]][[1]]) %in% plumbing) {
    keep <- keep[-length(keep)]
  }
  if (length(keep)) keep else NULL
}

# A condition's call as R's REPL shows it: a condition raised directly by a top-level expression
# has our own eval() frame as its call, which R's REPL would show as no call at all.
.user_call <- function(call) {
  if (is.null(call) || identical(call, quote(eval(expr, globalenv())))) NULL else call
}

.emit_warning <- function(w) {
  call <- .user_call(conditionCall(w))
  text <- if (is.null(call)) paste0("Warning message:\n", conditionMessage(w))
          else paste0("Warning message:\nIn ", paste(deparse(call, nlines = 1L), collapse = ""), " : ",
                      conditionMessage(w))
  cat(text, "\n", sep = "", file = stderr())
}

# Evaluates one top-level expression in the global environment.
# Returns list(value, visible) or a ripple_error / ripple_interrupt record.
.eval_one <- function(expr) {
  calls <- NULL
  tryCatch(
    withCallingHandlers(
      withVisible(eval(expr, globalenv())),
      warning = function(w) {
        if (getOption("warn", 0) >= 0 && getOption("warn", 0) < 2) {
          .emit_warning(w)
          invokeRestart("muffleWarning")
        }
      },
      error = function(e) calls <<- .user_calls(sys.calls())),
    error = function(e) .error_record(e, calls),
    interrupt = function(i) .interrupt_record())
}
