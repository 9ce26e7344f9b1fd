// run_report.hpp: the record of one run-notebook run (per cell: status, time, error) and its machine-readable
// forms, JSON and JUnit XML. Pure C++: must not know about R, the engine or notebook files.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/cell_output.hpp"
#include "cli/command_line.hpp"

namespace ripple::cli {

struct CellRecord {
    size_t position = 0; // 1-based position among the document's cells (notebook) or chunks (Rmd)
    std::string id;      // cell id, or chunk label
    std::string label;   // first line of its code, shortened
    size_t line = 0;     // Rmd: line of the chunk; 0 for notebooks
    CellStatus status = CellStatus::NotRun;
    double seconds = 0;
    bool from_cache = false;
    std::optional<int> execution_count;
    std::optional<CellOutput> error; // Error output when it failed or timed out
};

struct RunRecord {
    std::string input;
    std::string output;
    std::string kind; // "notebook" or "rmarkdown"
    ExitCode exit_code = ExitCode::Ok;
    std::string message; // the one-sentence reason when exit_code is not Ok
    std::string started; // ISO 8601 UTC
    double seconds = 0;
    CacheSettings cache;
    bool cache_available = false; // the persistent cache was open for this run
    bool r_started = true;        // false: every cell was served from the cache without starting R
    double r_start_seconds = 0;   // R's own start-up, when it started
    bool html_from_cache = false; // R Markdown to HTML: pandoc's output came from the cache
    std::vector<CellRecord> cells;
};

// The end of a run's summary line: ", R started in 0.12 s" or ", R not started".
std::string r_start_note(const RunRecord& run);

std::string report_json(const RunRecord& run);
std::string report_junit(const RunRecord& run);

// "2026-11-23T11:22:04.123456Z" for now.
std::string iso_timestamp_now();

} // namespace ripple::cli
