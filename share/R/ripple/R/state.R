# state.R: session state that the engine tracks like variables (options, working directory, search
# path): restoring a snapshot exactly. Knows nothing of the graph or the kernel; rbridge calls it.

# Options a package set when its namespace loaded (data.table's datatable.*, for one), with their values then and the
# namespaces loaded in that cell. SPEC section 4: package state is not rolled back under a loaded namespace.
.package_state <- new.env(parent = emptyenv())
.package_state$options <- list()
.package_state$owners <- list()

# Called (by rbridge) after a cell that loaded namespaces and changed options: options new in that cell are the new
# namespaces'. A user's own options() call in the same cell as the load cannot be told apart and counts the same way.
# TRUE when those new options are the only change (no option the cell found was changed or removed).
.note_package_options <- function(before_options, before_namespaces) {
  loaded <- setdiff(loadedNamespaces(), before_namespaces)
  if (!length(loaded)) return(FALSE)
  now <- options()
  before <- as.list(before_options)
  for (n in setdiff(names(now), names(before))) {
    .package_state$options[n] <- now[n]
    .package_state$owners[[n]] <- loaded
  }
  kept <- names(before)
  all(kept %in% names(now)) && identical(now[kept], before[kept])
}

# Sets options() to exactly `target`: changed ones back, options added since then removed, except the options of
# packages whose namespace is still loaded, which go back to what the package set when it loaded.
.restore_options <- function(target) {
  # Options set by the packages the display machinery loads (repr, for the first table shown) are the
  # kernel's display settings: never part of a snapshot, never restored or removed.
  user <- function(x) x[!(names(x) %in% .display_option_names())]
  current <- user(options())
  target <- user(target)
  if (identical(current, target)) return(invisible(FALSE))
  differs <- vapply(names(target), function(n) !identical(current[[n]], target[[n]]), NA)
  changes <- target[differs]
  extra <- setdiff(names(current), names(target))
  if (length(extra)) changes[extra] <- list(NULL)
  loaded <- loadedNamespaces()
  for (n in intersect(extra, names(.package_state$options))) {
    if (any(.package_state$owners[[n]] %in% loaded)) {
      if (identical(current[[n]], .package_state$options[[n]])) changes[n] <- NULL
      else changes[n] <- .package_state$options[n]
    }
  }
  for (n in names(changes)) {
    tryCatch(options(changes[n]), error = function(e) NULL, warning = function(w) NULL)
  }
  invisible(TRUE)
}

# Makes search() equal `target`: detaches packages not in it, attaches missing ones at their place.
.restore_search <- function(target) {
  if (identical(search(), target)) return(invisible(FALSE))
  for (name in setdiff(search(), target)) {
    if (startsWith(name, "package:")) {
      tryCatch(detach(name, character.only = TRUE, unload = FALSE), error = function(e) NULL)
    }
  }
  for (i in seq_along(target)) {
    name <- target[[i]]
    if (name %in% search() || !startsWith(name, "package:")) next
    tryCatch(suppressPackageStartupMessages(
      library(substring(name, 9L), character.only = TRUE, pos = i, warn.conflicts = FALSE,
              quietly = TRUE)), error = function(e) NULL)
  }
  invisible(TRUE)
}

# Environment variables and the locale, as the engine tracks them (the pseudo-symbol @env).
.environment_snapshot <- function() list(vars = Sys.getenv(), locale = Sys.getlocale())

# Makes Sys.getenv() and the locale equal a snapshot: variables set since are unset, changed ones set back.
.restore_environment <- function(target) {
  now <- Sys.getenv()
  want <- target$vars
  extra <- setdiff(names(now), names(want))
  if (length(extra)) Sys.unsetenv(extra)
  differs <- names(want)[is.na(now[names(want)]) | now[names(want)] != want]
  if (length(differs)) do.call(Sys.setenv, as.list(want[differs]))
  if (!identical(Sys.getlocale(), target$locale)) .restore_locale(target$locale)
  invisible(TRUE)
}

.restore_locale <- function(locale) {
  set <- function(category, value) suppressWarnings(tryCatch(Sys.setlocale(category, value), error = function(e) NULL))
  if (!grepl("=", locale, fixed = TRUE)) return(invisible(set("LC_ALL", locale)))
  for (part in strsplit(locale, ";", fixed = TRUE)[[1L]]) {
    kv <- strsplit(part, "=", fixed = TRUE)[[1L]]
    if (length(kv) == 2L && kv[[1L]] != "LC_NUMERIC" && Sys.getlocale(kv[[1L]]) != kv[[2L]]) set(kv[[1L]], kv[[2L]])
  }
  invisible()
}

.restore_wd <- function(target) {
  if (!identical(getwd(), target)) tryCatch(setwd(target), error = function(e) NULL)
  invisible()
}

.package_exports <- function(package) {
  tryCatch(getNamespaceExports(package), error = function(e) character())
}

# Facts for the cache key (dag's key environment): a package's version ("" if unknown), the RNG kind.
.package_version <- function(package) {
  tryCatch(as.character(utils::packageVersion(package)), error = function(e) "")
}

# Files whose stamps stand for installed packages (a replay step checks them, dag/replay_chain.hpp): each
# package's DESCRIPTION where it is installed now, and every library folder (installing a package changes it).
.package_files <- function(packages) {
  found <- find.package(packages, quiet = TRUE)
  c(file.path(found, "DESCRIPTION"), normalizePath(.libPaths(), mustWork = FALSE))
}

.rng_kind <- function() paste(RNGkind(), collapse = "/")
