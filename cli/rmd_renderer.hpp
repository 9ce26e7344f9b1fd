// rmd_renderer.hpp: `run-notebook DOC.Rmd --to md|html`: each R chunk and inline expression runs as a cell of the
// engine, in document order; the output reads like knitr's and HTML is made by pandoc. Must not know about R headers.
#pragma once

#include <ostream>

#include "cli/command_line.hpp"
#include "cli/progress.hpp"

namespace ripple::cli {

// Returns the process exit code (ExitCode, or 128 + signal when SIGINT/SIGTERM stopped the render).
// Throws InputError for bad input (exit 2); other exceptions are internal errors (exit 4).
int render_rmd(const RunRequest& request, Progress& progress);

// `run-notebook why DOC.Rmd [CELL]`: the render as a dry run against the cache (nothing runs, nothing is written) and,
// on `out`, one line per chunk, inline expression and params cell (or the one CELL: a chunk label): "cached" or
// "would rerun: " and which part of its key changed. Throws InputError for a bad document or an unusable cache.
int explain_rmd(const WhyRequest& request, Progress& progress, std::ostream& out);

} // namespace ripple::cli
