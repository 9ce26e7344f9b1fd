// run_support.hpp: what both run-notebook commands share: resolving paths and the working directory before R
// starts, writing reports, and the one-sentence failure messages for a cell. Must not know about R or the engine.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "cli/cell_output.hpp"
#include "cli/command_line.hpp"
#include "cli/progress.hpp"
#include "cli/run_report.hpp"

namespace ripple::cli {

// The input is unusable (missing, not a notebook, bad parameter, ...): exit code 2.
class InputError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Absolute paths for everything the request names, and the directory R starts in (--cwd or the input's directory).
struct ResolvedPaths {
    std::filesystem::path input;
    std::filesystem::path output;
    std::filesystem::path working_dir;
    std::vector<ReportRequest> reports;
};
// Throws InputError when the input, the output directory, a report directory or --cwd does not exist.
ResolvedPaths resolve_paths(const RunRequest& request, const std::filesystem::path& default_output);

// The name under which the cache remembers a document's cells for `run-notebook why`: its absolute path with
// symbolic links resolved, so that every way of naming the file finds the same cells.
std::string cache_scope(const std::filesystem::path& document);

// 1536 -> "1.5 KB", 3 -> "3 B" (units of 1024, as --max-size reads them).
std::string human_size(std::uint64_t bytes);

// Writes every requested report; a report that cannot be written is an error line, not a crash.
void write_reports(const std::vector<ReportRequest>& reports, const RunRecord& record, Progress& progress);

// The error of a failed run, or nullptr.
const CellOutput* error_of(const std::vector<CellOutput>& outputs);
// "Error in f() : boom" plus the traceback lines, indented, for stderr.
std::string describe_error(const CellOutput& error);
// The error output a timed-out cell shows instead of R's interrupt message.
CellOutput timeout_error(double seconds);

// The first line of `text` after any `#|` option lines, cut to `width` characters with an ellipsis.
std::string shorten(const std::string& text, size_t width);

// Base64 (as in a notebook's image/png) to bytes; nullopt for malformed input. Whitespace is ignored.
std::optional<std::string> decode_base64(const std::string& text);

} // namespace ripple::cli
