# probe.R: the state probe of the differential test: prints, deterministically, what the next cell could read (global bindings, RNG state, search path, options the generated cells touch).
# Runs identically as an anonymous kernel cell and at the end of the reference run; must not know about either, must not bind globals, draw random numbers or load anything.
local({
  ctl <- c("keepNA", "keepInteger", "niceNames", "showAttributes", "digits17")
  render <- function(v) {
    if (is.function(v)) {
      env <- environment(v)
      where <- if (is.null(env)) "NULL" else if (identical(env, globalenv())) "global"
               else environmentName(env)
      return(paste0("function[", where, "] ", paste(deparse(v, control = ctl), collapse = " ")))
    }
    if (is.environment(v)) return(paste0("environment ", environmentName(v)))
    # External pointers (data.table's .internal.selfref) deparse as their address, which no two sessions share.
    text <- gsub("<pointer: 0x[0-9a-f]+>", "<pointer>", paste(deparse(v, control = ctl), collapse = " "))
    paste0(typeof(v), " ", text)
  }
  lines <- "<<ripple-probe>>"
  genv <- globalenv()
  for (name in sort(ls(envir = genv, all.names = FALSE))) {
    lines <- c(lines, paste0("binding ", name, " = ", render(get(name, envir = genv, inherits = FALSE))))
  }
  if (exists(".Random.seed", envir = genv, inherits = FALSE)) {
    s <- get(".Random.seed", envir = genv, inherits = FALSE)
    lines <- c(lines, paste0(".Random.seed length ", length(s), " head ",
                             paste(s[seq_len(min(3L, length(s)))], collapse = ","),
                             " checksum ", sprintf("%.0f", sum(as.numeric(s) * seq_along(s)))))
  } else {
    lines <- c(lines, ".Random.seed absent")
  }
  lines <- c(lines, paste0("search ", paste(search(), collapse = " ")))
  for (opt in c("digits", "scipen", "OutDec", "warn", "width")) {
    lines <- c(lines, paste0("option ", opt, " = ", paste(deparse(getOption(opt)), collapse = " ")))
  }
  cat(lines, "<<end-probe>>", sep = "\n")
})
