# reference.R: the differential test's oracle: runs an ordered list of cells top to bottom in this fresh R process and writes each cell's composite output text and the probe's output.
# Knows only R and the record format below; must not know about the kernel, Jupyter, the generator or ripple's engine.
#
# Usage: Rscript --vanilla reference.R IN OUT
#
# IN and OUT are sequences of length-prefixed records (UTF-8, no quoting needed):
#   "<key> <nbytes>\n" <nbytes bytes of value> "\n"
# IN:  "cell" <id>, then "code" <code> for each cell in document order; optionally "probe" <code>
#      (run after the last cell, in the global environment, like one more cell).
# OUT: for each cell: "cell" <id>, "composite" <text>, "error" <"TRUE"|"FALSE">; then
#      "probe" <composite text of the probe> if one was given; last "done" "".
#
# Composite text of a cell = in the order it happened: stdout and stderr text as written; for
# each visible top-level value its print() output; each warning as "Warning message:\n" +
# ("In <call> : " when the warning has a call) + message + "\n"; an error ends the cell with
# "Error in <call> : <message>\n" or "Error: <message>\n" (no call: raised by the top level).
# A call is "none" when it is R's top level, which here is the eval() frame below: the same
# thing R's REPL shows (stop("x") -> "Error: x", log("a") -> "Error in log(\"a\") : ...").
#
# Nothing but base R is loaded, so the state cells see is the one of a fresh `Rscript --vanilla`.

local({
  args <- commandArgs(trailingOnly = TRUE)
  if (length(args) != 2L) {
    cat("usage: Rscript --vanilla reference.R IN OUT\n", file = stderr())
    quit(save = "no", status = 2L)
  }
  in_path <- args[[1L]]
  out_path <- args[[2L]]

  read_records <- function(path) {
    bytes <- readBin(path, "raw", n = file.size(path))
    pos <- 1L
    n <- length(bytes)
    keys <- character()
    values <- character()
    while (pos <= n) {
      nl <- pos
      while (nl <= n && bytes[[nl]] != as.raw(10L)) nl <- nl + 1L
      if (nl > n) stop("truncated record header")
      header <- rawToChar(bytes[pos:(nl - 1L)])
      parts <- strsplit(header, " ", fixed = TRUE)[[1L]]
      if (length(parts) != 2L) stop("bad record header: ", header)
      len <- as.integer(parts[[2L]])
      start <- nl + 1L
      end <- start + len - 1L
      if (end + 1L > n || bytes[[end + 1L]] != as.raw(10L)) stop("bad record length: ", header)
      value <- if (len > 0L) rawToChar(bytes[start:end]) else ""
      Encoding(value) <- "UTF-8"
      keys <- c(keys, parts[[1L]])
      values <- c(values, value)
      pos <- end + 2L
    }
    list(keys = keys, values = values)
  }

  out_con <- file(out_path, open = "wb")
  write_record <- function(key, value) {
    raw_value <- charToRaw(enc2utf8(value))
    writeBin(charToRaw(paste0(key, " ", length(raw_value), "\n")), out_con)
    writeBin(raw_value, out_con)
    writeBin(as.raw(10L), out_con)
  }

  recs <- read_records(in_path)
  ids <- character()
  codes <- character()
  probe <- NULL
  for (i in seq_along(recs$keys)) {
    key <- recs$keys[[i]]
    value <- recs$values[[i]]
    if (key == "cell") {
      ids <- c(ids, value)
      codes <- c(codes, NA_character_)
    } else if (key == "code") {
      if (!length(ids) || !is.na(codes[[length(codes)]])) stop("code record without cell")
      codes[[length(codes)]] <- value
    } else if (key == "probe") {
      probe <- value
    } else {
      stop("unknown record key: ", key)
    }
  }
  if (anyNA(codes)) stop("cell record without code")

  # Match the kernel's session: interactive R keeps source references; width 80; R's defaults
  # for everything else (digits 7, scipen 0, OutDec ".", warn 0).
  options(keep.source = TRUE, width = 80L)

  # The one call that stands for R's top level: conditions whose call is this one have no call.
  toplevel_call <- quote(eval(e, .GlobalEnv))

  call_text <- function(call) {
    if (is.null(call) || identical(call, toplevel_call)) return(NULL)
    deparse(call)[[1L]]
  }

  # data.table's `dt[, b := 1]` is visible (R's `[` makes it so) but flags print.data.table to print nothing once;
  # print.data.table honours the flag only when the console calls it at top level, not from this function's frames.
  console_print <- function(value) {
    if (inherits(value, "data.table") && isNamespaceLoaded("data.table")) {
      flags <- get(".global", envir = asNamespace("data.table"))
      if (nzchar(flags$print) && identical(flags$print, data.table::address(value))) {
        flags$print <- ""
        return(invisible())
      }
    }
    print(value)
  }

  run_cell <- function(code) {
    capture_path <- tempfile("ripple-ref-")
    con <- file(capture_path, open = "wb")
    emit <- function(text) cat(text, file = con, sep = "")
    sink(con, type = "output")
    sink(con, type = "message")
    failed <- FALSE
    tryCatch(
      withCallingHandlers({
        exprs <- parse(text = code, keep.source = TRUE)
        for (e in exprs) {
          res <- withVisible(eval(e, .GlobalEnv))
          if (res$visible) console_print(res$value)
        }
      },
      message = function(m) {
        emit(conditionMessage(m))
        invokeRestart("muffleMessage")
      },
      warning = function(w) {
        call <- call_text(conditionCall(w))
        emit(paste0("Warning message:\n", if (!is.null(call)) paste0("In ", call, " : "),
                    conditionMessage(w), "\n"))
        invokeRestart("muffleWarning")
      }),
      error = function(err) {
        failed <<- TRUE
        call <- call_text(conditionCall(err))
        emit(if (is.null(call)) paste0("Error: ", conditionMessage(err), "\n")
             else paste0("Error in ", call, " : ", conditionMessage(err), "\n"))
      })
    sink(type = "message")
    sink(type = "output")
    close(con)
    size <- file.size(capture_path)
    text <- if (size > 0) rawToChar(readBin(capture_path, "raw", n = size)) else ""
    Encoding(text) <- "UTF-8"
    unlink(capture_path)
    list(text = text, failed = failed)
  }

  for (i in seq_along(ids)) {
    res <- run_cell(codes[[i]])
    write_record("cell", ids[[i]])
    write_record("composite", res$text)
    write_record("error", if (res$failed) "TRUE" else "FALSE")
  }
  if (!is.null(probe)) write_record("probe", run_cell(probe)$text)
  write_record("done", "")
  close(out_con)
})
