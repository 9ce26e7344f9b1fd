# native.R: the only place where R code calls into the ripple kernel process.
# The routines are registered by rbridge (R_getEmbeddingDllInfo) under the DLL name "(embedding)".

.native <- function(name, ...) .Call(name, ..., PACKAGE = "(embedding)")

#' Publish a mime bundle (named list: mime type -> character) as a Jupyter display_data.
publish_mimebundle <- function(data, metadata = NULL, display_id = NULL, update = FALSE) {
  data <- lapply(data, function(x) if (is.character(x)) paste(x, collapse = "\n") else x)
  invisible(.native("ripple_publish", data, metadata,
                    if (is.null(display_id)) "" else as.character(display_id), isTRUE(update)))
}

#' Clear the output of the current cell (wait = TRUE: when the next output arrives).
clear_output <- function(wait = FALSE) invisible(.native("ripple_clear_output", isTRUE(wait)))

#' The metadata of the execute_request being run (JSON text), e.g. JupyterLab's cellId.
request_metadata <- function() .native("ripple_request_metadata")

.page <- function(data) invisible(.native("ripple_page", data))
