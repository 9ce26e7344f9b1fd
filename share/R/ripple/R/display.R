# display.R: rich representations of R values (text, HTML, htmlwidgets, markdown, LaTeX, images) for the kernel.
# Tables go through repr (truncated before formatting), widgets and tags through htmltools; the rest prints as R does.

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

# --- htmlwidgets and htmltools: interactive HTML -------------------------------------------
# htmltools resolves the object's HTML and its dependencies (renderTags); each output then carries every JavaScript
# and CSS file inline, so it works offline, after a rerun replaces it, when the cache replays it and in a saved
# notebook (355 KB for DT::datatable(head(iris)); see README). Not repr_html's output as such: it loads the scripts
# as <script src="data:..."> elements, which classic Notebook runs out of order when the output is in the page (a
# cell's composite display: DataTables before jQuery, the table stays empty), and base64 makes them a third larger.
# Inline <script> elements run in document order wherever front ends insert HTML. No de-duplication across outputs
# (repr.html.deduplicate's idea): an output must not depend on which outputs came before it.

.html_classes <- c("htmlwidget", "shiny.tag", "shiny.tag.list", "html")
.is_html_object <- function(x) inherits(x, .html_classes)

# Above this size a widget is not sent to the front end and a one-line note says so. What counts is the object's own
# HTML (a widget's data), not its JavaScript and CSS libraries (a fixed 0.36 MB for DT): in headless chromium here a
# DT table of 30k rows (0.74 MB) renders in 1.8 s, 100k rows (2.5 MB) in 6 s and 300k rows in 30 s. 1.5 MB is where
# DT itself warns that data is too big for client-side tables.
.html_max_bytes <- function() {
  max <- getOption("ripple.html.max_bytes", 1.5e6)
  if (is.numeric(max) && length(max) == 1L && !is.na(max)) max else 1.5e6
}

# What R's console prints for tags and HTML (their source); a widget prints nothing there.
.html_text <- function(x) {
  if (inherits(x, "htmlwidget")) return(paste0("<", class(x)[[1]], " htmlwidget>"))
  paste(as.character(x), collapse = "\n")
}

.html_bundle <- function(x) {
  if (!.require_display_package("htmltools")) return(NULL)
  text <- .html_text(x)
  # An `html` string is not a tag: wrapped in a tag list it keeps its attached dependencies.
  tags <- if (inherits(x, c("htmlwidget", "shiny.tag", "shiny.tag.list"))) x else htmltools::tagList(x)
  rendered <- htmltools::renderTags(tags)
  size <- nchar(rendered$html, type = "bytes")
  max <- .html_max_bytes()
  if (size > max) {
    label <- if (inherits(x, "htmlwidget")) text else paste0("<", class(x)[[1]], ">")
    bytes <- function(n) if (n < 1e6) sprintf("%.0f KB", n / 1e3) else sprintf("%.1f MB", n / 1e6)
    note <- sprintf(paste("%s: %s of HTML, over ripple's display limit of %s",
                          "(options(ripple.html.max_bytes)); show fewer rows or use server-side processing"),
                    label, bytes(size), bytes(max))
    return(list(data = list(`text/plain` = note), metadata = NULL))
  }
  deps <- vapply(rendered$dependencies, .dependency_html, "")
  html <- c(if (length(deps)) c(.hide_amd_define, deps, .restore_amd_define),
            if (nzchar(rendered$head)) rendered$head,
            rendered$html,
            if (inherits(x, "htmlwidget") || grepl("html-widget", rendered$html, fixed = TRUE)) .widget_render_script(x))
  # A widget asks to be isolated (Notebook renders it in an iframe of its own, as for IRkernel): its libraries
  # (jQuery, Bootstrap CSS, ...) then cannot touch the notebook page. Without isolation (a cell's composite display,
  # front ends that ignore it) the output still works in the page.
  metadata <- if (inherits(x, "htmlwidget")) list(`text/html` = list(isolated = TRUE))
  list(data = list(`text/plain` = text, `text/html` = paste(html, collapse = "\n")), metadata = metadata)
}

.read_text <- function(file) {
  text <- readChar(file, file.info(file)$size, useBytes = TRUE)
  Encoding(text) <- "UTF-8"
  text
}

# One dependency (htmltools::htmlDependency) as inline <script> and <style> elements, in its own order. A dependency
# that only has a URL (a CDN) is linked, and needs the network.
.dependency_html <- function(dep) {
  paths <- function(entries) vapply(entries, function(e) if (is.list(e)) e$src else e, "")
  file_dir <- dep$src$file
  if (!is.null(file_dir) && !is.null(dep$package)) file_dir <- system.file(file_dir, package = dep$package)
  if (is.null(file_dir)) {
    href <- dep$src$href
    if (is.null(href)) return("")
    return(paste(c(sprintf("<script src=\"%s/%s\"></script>", href, paths(dep$script)),
                   sprintf("<link rel=\"stylesheet\" href=\"%s/%s\"/>", href, paths(dep$stylesheet))), collapse = "\n"))
  }
  title <- gsub("\"", "", dep$name, fixed = TRUE)
  scripts <- vapply(paths(dep$script), function(f) {
    code <- gsub("</(script)", "<\\\\/\\1", .read_text(file.path(file_dir, f)), ignore.case = TRUE, useBytes = TRUE)
    sprintf("<script title=\"%s\">%s\n</script>", title, code)
  }, "")
  styles <- vapply(paths(dep$stylesheet), function(f) {
    css <- gsub("</(style)", "<\\\\/\\1", .read_text(file.path(file_dir, f)), ignore.case = TRUE, useBytes = TRUE)
    # Not title=: <style> elements with titles form alternative style sheet sets, and only the first set applies.
    sprintf("<style data-dependency=\"%s\">%s\n</style>", title, css)
  }, "")
  paste(c(dep$head, scripts, styles), collapse = "\n")
}

# Classic Notebook loads RequireJS: a library with a UMD header (DataTables, ...) then registers as an AMD module
# instead of attaching itself to jQuery ("$table.DataTable is not a function"). The dependencies run with `define`
# hidden, and it is back once they have run (front ends without RequireJS: no-op).
.hide_amd_define <- paste0("<script>if (typeof window.define === \"function\" && window.define.amd) {",
                           " window.rippleHiddenDefine = window.define; window.define = undefined; }</script>")
.restore_amd_define <- paste0("<script>if (window.rippleHiddenDefine) {",
                              " window.define = window.rippleHiddenDefine; window.rippleHiddenDefine = undefined; }</script>")

# htmlwidgets.js renders a page's widgets on DOMContentLoaded, which has long passed when a front end adds an output
# (or replaces it on a rerun): without this the widget stays an empty <div>. Renders once htmlwidgets and the
# widget's binding are there.
.widget_render_script <- function(x) {
  names <- if (inherits(x, "htmlwidget")) sprintf("\"%s\"", gsub("[^A-Za-z0-9_.-]", "", class(x)[[1]])) else ""
  paste0(
    "<script>(function() {\n",
    "  var names = [", names, "], tries = 0;\n",
    "  function ready() {\n",
    "    var w = window.HTMLWidgets;\n",
    "    return w && w.widgets && names.every(function(n) {\n",
    "      return w.widgets.some(function(b) { return b.name === n; }); });\n",
    "  }\n",
    "  function render() {\n",
    "    if (ready()) window.HTMLWidgets.staticRender(); else if (tries++ < 400) setTimeout(render, 25);\n",
    "  }\n",
    "  render();\n",
    "})();</script>")
}

# print() of a widget or of browsable tags would open a browser or viewer (htmltools::html_print calls
# getOption("viewer") or utils::browseURL, whatever options say). In the kernel and in run-notebook they
# are displayed instead; under knitr they print as in R without a viewer. Installed when htmlwidgets or
# htmltools loads (R's S3 registry keeps the last registration for a class).
.html_print_method <- function(original, widget) {
  force(original) # made in a loop over classes: each method keeps its own class's original
  force(widget)
  without_viewer <- function(x, ...) {
    args <- list(...)
    args$view <- NULL
    args$browse <- NULL
    if (widget) do.call(original, c(list(x), args, view = FALSE))
    else do.call(original, c(list(x), args, browse = FALSE))
  }
  method <- function(x, ...) {
    bundle <- if (!isTRUE(getOption("knitr.in.progress"))) .html_bundle(x)
    if (is.null(bundle)) without_viewer(x, ...)
    else publish_mimebundle(bundle$data, bundle$metadata)
    invisible(x)
  }
  attr(method, "ripple") <- TRUE
  method
}

.install_html_printing <- function(package) {
  classes <- switch(package, htmlwidgets = "htmlwidget", htmltools = c("shiny.tag", "shiny.tag.list", "html"))
  for (class in classes) {
    original <- utils::getS3method("print", class, optional = TRUE)
    if (is.null(original) || isTRUE(attr(original, "ripple"))) next
    registerS3method("print", class, .html_print_method(original, class == "htmlwidget"),
                     envir = asNamespace(package))
  }
  invisible()
}

.watch_html_printing <- function() {
  for (package in c("htmltools", "htmlwidgets")) {
    local({
      p <- package
      setHook(packageEvent(p, "onLoad"), function(...) .install_html_printing(p))
    })
    if (isNamespaceLoaded(package)) .install_html_printing(package)
  }
}

# Returns list(data = <named list of strings>, metadata = <list>) or NULL when there is nothing
# to show (e.g. a ggplot whose print only drew on the graphics device).
.mime_bundle <- function(x) {
  if (.is_html_object(x)) {
    b <- .html_bundle(x)
    if (!is.null(b)) return(b)
  }
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
