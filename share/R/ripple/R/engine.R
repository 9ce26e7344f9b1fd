# engine.R: the user's window on the no-hidden-state engine: why a cell is stale, the dependency graph,
# reactive or lazy mode. Asks the kernel through one native routine; knows nothing of how it decides.

.engine_query <- function(request) {
  answer <- .native("ripple_engine_query", request)
  if (!identical(answer$status, "ok")) stop(answer$message, call. = FALSE)
  answer
}

#' Why is a cell stale, and what does it depend on? One or two sentences.
why <- function(cell) {
  if (!is.character(cell) || length(cell) != 1L || is.na(cell)) stop("why() needs one cell id", call. = FALSE)
  text <- .engine_query(list(request = "why", cell = cell))$text
  cat(text, "\n", sep = "")
  invisible(text)
}

#' Switch between reactive (dependents rerun at once) and lazy (they are marked stale) mode.
mode <- function(mode = NULL) {
  request <- list(request = "mode")
  if (!is.null(mode)) request$mode <- match.arg(mode, c("reactive", "lazy"))
  invisible(.engine_query(request)$mode)
}

.graph_text <- function(g) {
  label <- function(id) {
    at <- which(vapply(g$cells, function(c) identical(c$id, id), NA))
    if (length(at)) paste0("[", g$cells[[at[1L]]]$label, "]") else id
  }
  lines <- vapply(g$edges, function(e) paste0(label(e$from), " -> ", label(e$to), ": ",
                                              paste(e$symbols, collapse = ", ")), "")
  stale <- vapply(Filter(function(c) isTRUE(c$stale), g$cells), function(c) paste0("[", c$label, "]"), "")
  c(if (length(lines)) lines else "(no dependencies between cells yet)",
    if (length(stale)) paste("stale:", paste(stale, collapse = " ")))
}

.graph_dot <- function(g) {
  quote_dot <- function(x) paste0("\"", gsub("([\"\\\\])", "\\\\\\1", x), "\"")
  nodes <- vapply(g$cells, function(c) paste0(
    "  ", quote_dot(c$id), " [label=", quote_dot(c$label),
    if (isTRUE(c$stale)) ", style=filled, fillcolor=\"#ffe0b2\", color=\"#b26b00\"" else "", "];"), "")
  edges <- vapply(g$edges, function(e) paste0(
    "  ", quote_dot(e$from), " -> ", quote_dot(e$to), " [label=", quote_dot(paste(e$symbols, collapse = ", ")), "];"), "")
  paste(c("digraph ripple {", "  node [shape=box, fontname=\"monospace\"];", nodes, edges, "}"), collapse = "\n")
}

#' The cell dependency graph: SVG (graphviz) with a text fallback; stale cells highlighted.
graph <- function() {
  g <- .engine_query(list(request = "graph"))
  text <- .graph_text(g)
  svg <- NULL
  dot <- Sys.which("dot")
  if (nzchar(dot)) {
    svg <- .unwatched(tryCatch(paste(system2(dot, "-Tsvg", input = .graph_dot(g), stdout = TRUE, stderr = FALSE),
                                     collapse = "\n"), error = function(e) NULL, warning = function(w) NULL))
  }
  if (!is.null(svg) && nzchar(svg)) {
    publish_mimebundle(list(`image/svg+xml` = svg, `text/plain` = paste(text, collapse = "\n")))
  } else {
    cat(text, sep = "\n")
  }
  invisible(g)
}
