// notebook_runner.hpp: `run-notebook IN.ipynb`: runs the code cells in document order through the engine and writes
// the notebook with outputs, counts and timing (papermill/nbclient parity). Must not know about R headers.
#pragma once

#include <ostream>

#include "cli/command_line.hpp"
#include "cli/progress.hpp"

namespace ripple::cli {

// Returns the process exit code (ExitCode, or 128 + signal when SIGINT/SIGTERM stopped the run).
// Throws InputError for bad input (exit 2); other exceptions are internal errors (exit 4).
int run_notebook(const RunRequest& request, Progress& progress);

// `run-notebook why NB.ipynb [CELL]`: a dry run of every code cell against the cache (nothing runs) and, on `out`,
// one line per cell (or the one CELL): "cached", or "would rerun: " and which part of its key changed since the
// cell's last run. Returns 0; throws InputError for a bad notebook, an unknown cell or an unusable cache (exit 2).
int explain_notebook(const WhyRequest& request, Progress& progress, std::ostream& out);

} // namespace ripple::cli
