// notebook_runner.hpp: `run-notebook IN.ipynb`: runs the code cells in document order through the engine and writes
// the notebook with outputs, counts and timing (papermill/nbclient parity). Must not know about R headers.
#pragma once

#include "cli/command_line.hpp"
#include "cli/progress.hpp"

namespace ripple::cli {

// Returns the process exit code (ExitCode, or 128 + signal when SIGINT/SIGTERM stopped the run).
// Throws InputError for bad input (exit 2); other exceptions are internal errors (exit 4).
int run_notebook(const RunRequest& request, Progress& progress);

} // namespace ripple::cli
