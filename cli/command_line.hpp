// command_line.hpp: what a run-notebook invocation asks for (run a notebook, render R Markdown, why, cache),
// parsed from argv; every mistake is a UsageError of one sentence. Pure C++: must not know about R or the engine.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace ripple::cli {

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class InputKind { Notebook, RMarkdown };
enum class ReportKind { Json, Junit };
enum class RenderTarget { Markdown, Html };

struct ReportRequest {
    ReportKind kind = ReportKind::Json;
    std::filesystem::path file;
};

// Where and how the persistent content-hash cache is used (SPEC section 5). run-notebook only passes this on:
// serving hits is the engine's business.
struct CacheSettings {
    bool enabled = true;       // --no-cache: neither read nor write the cache
    bool force = false;        // --force: run every cell even when its key is cached (and refresh the entry)
    std::filesystem::path dir; // --cache-dir, else $RIPPLE_CACHE_DIR, else $XDG_CACHE_HOME/ripple, else ~/.cache/ripple
};

// -p NAME VALUE: VALUE is R code (a literal such as 10, "east", TRUE, c(1, 2)).
struct Parameter {
    std::string name;
    std::string value;
};

struct RunRequest {
    InputKind kind = InputKind::Notebook;
    std::filesystem::path input;
    std::optional<std::filesystem::path> output; // -o; a notebook without it is updated in place
    std::vector<Parameter> parameters;           // in command-line order; a repeated name keeps the last value
    std::optional<double> timeout_seconds;       // per cell
    bool allow_errors = false;
    std::optional<std::filesystem::path> cwd; // R's working directory (default: the input's directory)
    CacheSettings cache;
    bool log_output = false; // stream cell output to stderr while it runs
    std::vector<ReportRequest> reports;
    bool quiet = false;
    std::optional<RenderTarget> to; // R Markdown only
    bool self_contained = false;    // R Markdown to HTML only
};

struct WhyRequest {
    InputKind kind = InputKind::Notebook;
    std::filesystem::path notebook; // a notebook or an R Markdown document
    std::optional<std::string> cell;
    CacheSettings cache;
};

struct CacheRequest {
    enum class Action { Stats, Gc, Clear };
    Action action = Action::Stats;
    std::optional<std::uint64_t> max_size_bytes; // gc --max-size
    CacheSettings cache;
};

struct HelpRequest {};
struct VersionRequest {};

using Command = std::variant<RunRequest, WhyRequest, CacheRequest, HelpRequest, VersionRequest>;

// Reads an environment variable (tests pass their own).
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup process_environment();

// Throws UsageError (one sentence) for anything run-notebook cannot act on.
Command parse_command_line(const std::vector<std::string>& args, const EnvLookup& env = process_environment());

std::string usage_text();

// True for names R accepts without backticks (x, .x, my.var_2), false for 2x, _x, .2x, if.
bool is_syntactic_r_name(const std::string& name);

} // namespace ripple::cli
