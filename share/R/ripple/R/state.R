# state.R: session state that the engine tracks like variables (options, working directory, search
# path): restoring a snapshot exactly. Knows nothing of the graph or the kernel; rbridge calls it.

# Options a package set when its namespace loaded (data.table's datatable.*, for one), with their values then and the
# namespaces loaded in that cell. SPEC section 4: package state is not rolled back under a loaded namespace.
.package_state <- new.env(parent = emptyenv())
.package_state$options <- list()
.package_state$owners <- list()

# Called (by rbridge) after a cell that loaded namespaces and changed options: options new in that cell are the new
# namespaces'. A user's own options() call in the same cell as the load cannot be told apart and counts the same way.
.note_package_options <- function(before_options, before_namespaces) {
  loaded <- setdiff(loadedNamespaces(), before_namespaces)
  if (!length(loaded)) return(invisible())
  now <- options()
  for (n in setdiff(names(now), names(before_options))) {
    .package_state$options[n] <- now[n]
    .package_state$owners[[n]] <- loaded
  }
  invisible()
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
