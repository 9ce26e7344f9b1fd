# introspect.R: completion (R's own utils completion chain) and inspection (help as text and HTML).
# Called by rbridge for complete_request and inspect_request.

.complete <- function(code, cursor) {
  line_start <- 1L
  before <- substr(code, 1L, cursor)
  nl <- gregexpr("\n", before, fixed = TRUE)[[1]]
  if (nl[[1]] > 0) line_start <- max(nl) + 1L
  line <- substr(before, line_start, cursor)
  utils:::.assignLinebuffer(line)
  utils:::.assignEnd(nchar(line))
  token <- utils:::.guessTokenFromLine()
  utils:::.completeToken()
  matches <- utils:::.retrieveCompletions()
  start <- line_start - 1L + utils:::.CompletionEnv[["start"]]
  list(matches = as.character(matches), start = as.integer(start), end = as.integer(cursor),
       token = token)
}

# The name at the cursor: identifiers with dots, underscores and pkg::name.
.token_at <- function(code, cursor) {
  chars <- strsplit(code, "")[[1]]
  ok <- function(ch) grepl("[[:alnum:]._:$@]", ch)
  i <- min(cursor, length(chars))
  if (i >= 1 && !ok(chars[i]) && i < length(chars) && ok(chars[i + 1])) i <- i + 1
  if (i < 1 || !ok(chars[i])) return("")
  s <- i; e <- i
  while (s > 1 && ok(chars[s - 1])) s <- s - 1
  while (e < length(chars) && ok(chars[e + 1])) e <- e + 1
  gsub("[$@].*$", "", paste(chars[s:e], collapse = ""))
}

.inspect <- function(code, cursor) {
  .guard(function() {
    token <- .token_at(code, cursor)
    if (!nzchar(token)) return(NULL)
    parts <- strsplit(token, ":::?")[[1]]
    topic <- parts[[length(parts)]]
    pkg <- if (length(parts) > 1) parts[[1]] else NULL
    h <- if (is.null(pkg)) utils::help(topic) else utils::help(topic, package = (pkg))
    if (length(h) > 0) return(.help_bundle(h))
    if (exists(token, envir = globalenv())) {
      obj <- get(token, envir = globalenv())
      text <- paste(utils::capture.output(utils::str(obj)), collapse = "\n")
      return(list(`text/plain` = text))
    }
    NULL
  })
}
