# display.R: rich representations of R values (text, HTML, markdown, LaTeX, images) for the kernel.
# Tables go through repr (truncated before formatting); everything else prints like the R console.

display_html <- function(x) publish_mimebundle(list(`text/html` = x, `text/plain` = "<HTML>"))
display_markdown <- function(x) publish_mimebundle(list(`text/markdown` = x, `text/plain` = x))
display_latex <- function(x) publish_mimebundle(list(`text/latex` = x, `text/plain` = x))
display_text <- function(x) publish_mimebundle(list(`text/plain` = x))

.read_binary <- function(file) readBin(file, "raw", file.info(file)$size)

display_png <- function(data = NULL, file = NULL, width = NULL, height = NULL) {
  if (!is.null(file)) data <- .read_binary(file)
  meta <- list()
  if (!is.null(width)) meta$width <- width
  if (!is.null(height)) meta$height <- height
  publish_mimebundle(list(`image/png` = .base64(data), `text/plain` = "<PNG image>"),
                     if (length(meta)) list(`image/png` = meta) else NULL)
}

display_svg <- function(data = NULL, file = NULL) {
  if (!is.null(file)) data <- paste(readLines(file, warn = FALSE), collapse = "\n")
  publish_mimebundle(list(`image/svg+xml` = data, `text/plain` = "<SVG image>"))
}

#' Display any R value the way the kernel shows a visible result, as display_data.
display <- function(...) {
  for (x in list(...)) {
    b <- .mime_bundle(x)
    if (!is.null(b)) publish_mimebundle(b$data, b$metadata)
  }
  invisible()
}

.base64 <- function(bytes) {
  chars <- c(LETTERS, letters, 0:9, "+", "/")
  n <- length(bytes)
  if (n == 0) return("")
  pad <- (3 - n %% 3) %% 3
  v <- as.integer(c(bytes, as.raw(rep(0, pad))))
  m <- matrix(v, nrow = 3)
  idx <- rbind(m[1, ] %/% 4, (m[1, ] %% 4) * 16 + m[2, ] %/% 16,
               (m[2, ] %% 16) * 4 + m[3, ] %/% 64, m[3, ] %% 64)
  out <- chars[as.vector(idx) + 1]
  if (pad > 0) out[(length(out) - pad + 1):length(out)] <- "="
  paste(out, collapse = "")
}

.text_of <- function(x) {
  out <- utils::capture.output(if (isS4(x)) methods::show(x) else print(x))
  paste(out, collapse = "\n")
}

.is_table <- function(x) is.data.frame(x) || (is.matrix(x) && length(dim(x)) == 2)

# Options that packages set when the display machinery loads them (repr sets repr.*, cli sets callr.*
# in whichever cell first shows a table): the kernel's display settings, not user state. The engine
# leaves them out of options() snapshots (.display_option_names, read by rbridge and .restore_options).
.display_state <- new.env(parent = emptyenv())
.display_state$option_names <- character()
.display_option_names <- function() .display_state$option_names

.require_display_package <- function(package) {
  if (isNamespaceLoaded(package)) return(TRUE)
  before <- names(options())
  loaded <- requireNamespace(package, quietly = TRUE)
  .display_state$option_names <- union(.display_state$option_names, setdiff(names(options()), before))
  loaded
}

# Returns list(data = <named list of strings>, metadata = <list>) or NULL when there is nothing
# to show (e.g. a ggplot whose print only drew on the graphics device).
.mime_bundle <- function(x) {
  if (.is_table(x) && .require_display_package("repr")) {
    # text/plain is what R's console prints (the no-hidden-state invariant compares it with a fresh
    # run); only tables too big to print sensibly get repr's truncated text.
    data <- list(`text/plain` = if (NROW(x) <= 1000L) .text_of(x) else repr::repr_text(x))
    for (m in list(c("text/html", "repr_html"), c("text/markdown", "repr_markdown"),
                   c("text/latex", "repr_latex"))) {
      r <- tryCatch(getExportedValue("repr", m[2])(x), error = function(e) NULL)
      if (!is.null(r)) data[[m[1]]] <- paste(r, collapse = "\n")
    }
    return(list(data = data, metadata = NULL))
  }
  text <- .text_of(x)
  if (!nzchar(text)) return(NULL)
  list(data = list(`text/plain` = text), metadata = NULL)
}

# Help pages (`?cat`) go to the pager, as text and HTML.
.help_bundle <- function(x) {
  paths <- as.character(x)
  if (length(paths) == 0) {
    return(list(`text/plain` = paste0("No documentation for ", sQuote(attr(x, "topic")),
                                      " in specified packages and libraries")))
  }
  file <- paths[[1]]
  rd <- utils:::.getHelpFile(file)
  pkg <- basename(dirname(dirname(file)))
  text <- paste(utils::capture.output(tools::Rd2txt(rd, out = "", options = list(underline_titles = FALSE))),
                collapse = "\n")
  html <- paste(utils::capture.output(tools::Rd2HTML(rd, out = "", package = pkg)), collapse = "\n")
  list(`text/plain` = text, `text/html` = html)
}

# data.table's `dt[, b := 1]` comes back visible (R's `[` makes it so) with a flag asking print.data.table to print
# nothing this once; print.data.table honours the flag only when called from the top level, as R's console calls it,
# never from inside the display machinery. So the flag is read here, and cleared as print.data.table would.
.data_table_print_suppressed <- function(value) {
  if (!inherits(value, "data.table") || !isNamespaceLoaded("data.table")) return(FALSE)
  flags <- tryCatch(get(".global", envir = asNamespace("data.table")), error = function(e) NULL)
  if (!is.environment(flags) || !is.character(flags$print) || !nzchar(flags$print)) return(FALSE)
  if (!identical(flags$print, tryCatch(data.table::address(value), error = function(e) NULL))) return(FALSE)
  flags$print <- ""
  TRUE
}

# Decides how a visible top-level value is shown: list(kind = "display"|"page", data, metadata).
.display_value <- function(value) {
  .guard(function() {
    if (.data_table_print_suppressed(value)) return(NULL)
    if (inherits(value, "help_files_with_topic")) {
      return(list(kind = "page", data = .help_bundle(value)))
    }
    b <- .mime_bundle(value)
    if (is.null(b)) return(NULL)
    list(kind = "display", data = b$data, metadata = b$metadata)
  })
}
