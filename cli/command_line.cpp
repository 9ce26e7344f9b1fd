// command_line.cpp: argv -> Command for run-notebook (papermill/nbclient-style options, why, cache).
// Pure C++: must not know about R or the engine; it checks only what can be checked without them.
#include "cli/command_line.hpp"

#include "dag/byte_size.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>

namespace ripple::cli {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

fs::path default_cache_dir(const EnvLookup& env) {
    if (auto dir = env("RIPPLE_CACHE_DIR"); dir && !dir->empty()) return *dir;
    if (auto xdg = env("XDG_CACHE_HOME"); xdg && !xdg->empty()) return fs::path(*xdg) / "ripple";
    auto home = env("HOME");
    return fs::path(home && !home->empty() ? *home : "/tmp") / ".cache" / "ripple";
}

// Walks argv; options may come before or after the positional arguments.
class ArgReader {
public:
    explicit ArgReader(const std::vector<std::string>& args) : args_(args) {}
    bool done() const { return at_ >= args_.size(); }
    const std::string& next() { return args_[at_++]; }
    const std::string& value_for(const std::string& option) {
        if (done()) throw UsageError(option + " needs a value.");
        return next();
    }

private:
    const std::vector<std::string>& args_;
    size_t at_ = 0;
};

double parse_seconds(const std::string& option, const std::string& text) {
    char* end = nullptr;
    double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end == nullptr || *end != '\0' || !std::isfinite(value) || value <= 0) {
        throw UsageError(option + " needs a positive number of seconds, not \"" + text + "\".");
    }
    return value;
}

// Options shared by every command that touches the cache.
bool read_cache_option(const std::string& arg, ArgReader& reader, CacheSettings& cache,
                       std::optional<fs::path>& explicit_dir) {
    if (arg == "--force") cache.force = true;
    else if (arg == "--no-cache") cache.enabled = false;
    else if (arg == "--cache-dir") {
        const std::string& dir = reader.value_for(arg);
        if (dir.empty()) throw UsageError("--cache-dir needs a directory.");
        explicit_dir = dir;
    } else return false;
    return true;
}

InputKind kind_of(const fs::path& input) {
    std::string ext = lower(input.extension().string());
    if (ext == ".ipynb") return InputKind::Notebook;
    if (ext == ".rmd") return InputKind::RMarkdown;
    throw UsageError(input.string() + " is neither a notebook (.ipynb) nor an R Markdown document (.Rmd).");
}

Command parse_run(const std::vector<std::string>& args, const EnvLookup& env) {
    RunRequest run;
    ArgReader reader(args);
    std::vector<std::string> positional;
    std::optional<fs::path> cache_dir;
    while (!reader.done()) {
        const std::string& arg = reader.next();
        if (arg == "-o" || arg == "--output") {
            const std::string& out = reader.value_for(arg);
            if (out.empty()) throw UsageError(arg + " needs a file name.");
            run.output = out;
        } else if (arg == "-p" || arg == "--parameter") {
            std::string name = reader.value_for(arg);
            if (reader.done())
                throw UsageError(arg + " " + name + " needs a value (an R literal such as 10 or '\"east\"').");
            std::string value = reader.next();
            if (!is_syntactic_r_name(name)) {
                throw UsageError("parameter name \"" + name + "\" is not an R variable name.");
            }
            if (value.find_first_not_of(" \t\r\n") == std::string::npos) {
                throw UsageError("parameter " + name +
                                 " has an empty value; pass an R literal such as 10 or '\"east\"'.");
            }
            run.parameters.push_back({name, value});
        } else if (arg == "--timeout" || arg == "--execution-timeout") {
            run.timeout_seconds = parse_seconds(arg, reader.value_for(arg));
        } else if (arg == "--allow-errors") {
            run.allow_errors = true;
        } else if (arg == "--cwd" || arg == "--kernel-cwd") {
            const std::string& dir = reader.value_for(arg);
            if (dir.empty()) throw UsageError(arg + " needs a directory.");
            run.cwd = dir;
        } else if (read_cache_option(arg, reader, run.cache, cache_dir)) {
        } else if (arg == "--log-output") {
            run.log_output = true;
        } else if (arg == "--report") {
            std::string kind = reader.value_for(arg);
            if (reader.done()) throw UsageError("--report " + kind + " needs a file name.");
            std::string file = reader.next();
            ReportRequest report;
            if (kind == "json") report.kind = ReportKind::Json;
            else if (kind == "junit") report.kind = ReportKind::Junit;
            else throw UsageError("--report takes json or junit, not \"" + kind + "\".");
            if (file.empty()) throw UsageError("--report " + kind + " needs a file name.");
            report.file = file;
            run.reports.push_back(report);
        } else if (arg == "-q" || arg == "--quiet") {
            run.quiet = true;
        } else if (arg == "--to") {
            std::string to = lower(reader.value_for(arg));
            if (to == "md" || to == "markdown") run.to = RenderTarget::Markdown;
            else if (to == "html") run.to = RenderTarget::Html;
            else throw UsageError("--to takes md or html, not \"" + to + "\".");
        } else if (arg == "--self-contained") {
            run.self_contained = true;
        } else if (arg == "--") {
            while (!reader.done()) positional.push_back(reader.next());
        } else if (arg.size() > 1 && arg[0] == '-') {
            throw UsageError("unknown option " + arg + " (run-notebook --help lists the options).");
        } else {
            positional.push_back(arg);
        }
    }
    if (positional.empty()) throw UsageError("give a notebook (.ipynb) or an R Markdown document (.Rmd) to run.");
    if (positional.size() > 1) {
        throw UsageError("one input file at a time: \"" + positional[1] + "\" is extra (use -o for the output file).");
    }
    run.input = positional[0];
    run.kind = kind_of(run.input);
    if (run.kind == InputKind::Notebook) {
        if (run.to) throw UsageError("--to applies to R Markdown documents; a notebook is written as a notebook.");
        if (run.self_contained) throw UsageError("--self-contained applies to R Markdown rendered to HTML.");
        if (run.output && lower(run.output->extension().string()) != ".ipynb") {
            throw UsageError("the output of a notebook must be a .ipynb file, not " + run.output->string() + ".");
        }
    } else {
        std::optional<RenderTarget> by_name;
        if (run.output) {
            std::string ext = lower(run.output->extension().string());
            if (ext == ".md" || ext == ".markdown") by_name = RenderTarget::Markdown;
            else if (ext == ".html" || ext == ".htm") by_name = RenderTarget::Html;
            else
                throw UsageError("the output of an R Markdown render must be a .md or .html file, not " +
                                 run.output->string() + ".");
        }
        if (run.to && by_name && *run.to != *by_name) {
            throw UsageError("--to " + std::string(*run.to == RenderTarget::Html ? "html" : "md") +
                             " does not match the output file " + run.output->string() + ".");
        }
        if (!run.to) run.to = by_name; // otherwise the document's `output:` decides
        if (run.self_contained && run.to == RenderTarget::Markdown) {
            throw UsageError("--self-contained applies to HTML output, not Markdown.");
        }
    }
    run.cache.dir = cache_dir ? *cache_dir : default_cache_dir(env);
    return run;
}

Command parse_why(const std::vector<std::string>& args, const EnvLookup& env) {
    WhyRequest why;
    ArgReader reader(args);
    std::vector<std::string> positional;
    std::optional<fs::path> cache_dir;
    while (!reader.done()) {
        const std::string& arg = reader.next();
        if (read_cache_option(arg, reader, why.cache, cache_dir)) continue;
        if (arg.size() > 1 && arg[0] == '-') throw UsageError("unknown option " + arg + " for run-notebook why.");
        positional.push_back(arg);
    }
    if (positional.empty() || positional.size() > 2)
        throw UsageError("usage: run-notebook why NB.ipynb|DOC.Rmd [CELL].");
    why.notebook = positional[0];
    why.kind = kind_of(why.notebook);
    if (positional.size() == 2) why.cell = positional[1];
    why.cache.dir = cache_dir ? *cache_dir : default_cache_dir(env);
    return why;
}

Command parse_cache(const std::vector<std::string>& args, const EnvLookup& env) {
    CacheRequest cache;
    if (args.empty()) throw UsageError("usage: run-notebook cache stats|gc [--max-size SIZE]|clear [--cache-dir DIR].");
    const std::string& action = args[0];
    if (action == "stats") cache.action = CacheRequest::Action::Stats;
    else if (action == "gc") cache.action = CacheRequest::Action::Gc;
    else if (action == "clear") cache.action = CacheRequest::Action::Clear;
    else throw UsageError("run-notebook cache takes stats, gc or clear, not \"" + action + "\".");
    std::vector<std::string> rest(args.begin() + 1, args.end());
    ArgReader reader(rest);
    std::optional<fs::path> cache_dir;
    while (!reader.done()) {
        const std::string& arg = reader.next();
        if (arg == "--cache-dir") {
            const std::string& dir = reader.value_for(arg);
            if (dir.empty()) throw UsageError("--cache-dir needs a directory.");
            cache_dir = dir;
        } else if (arg == "--max-size" && cache.action == CacheRequest::Action::Gc) {
            const std::string& size = reader.value_for(arg);
            // The parser RIPPLE_CACHE_MAX_SIZE uses; 0 here means "remove every entry nothing protects".
            cache.max_size_bytes = dag::parse_byte_size(size, /*zero_allowed=*/true);
            if (!cache.max_size_bytes)
                throw UsageError("--max-size needs a size such as 500M, 1.5G or 2 GiB, not \"" + size + "\".");
        } else {
            throw UsageError("unknown argument " + arg + " for run-notebook cache " + action + ".");
        }
    }
    cache.cache.dir = cache_dir ? *cache_dir : default_cache_dir(env);
    return cache;
}

} // namespace

EnvLookup process_environment() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
    };
}

Command parse_command_line(const std::vector<std::string>& args, const EnvLookup& env) {
    if (args.empty()) throw UsageError("give a notebook (.ipynb) or an R Markdown document (.Rmd) to run.");
    if (args[0] == "-h" || args[0] == "--help" || args[0] == "help") return HelpRequest{};
    if (args[0] == "--version") return VersionRequest{};
    if (args[0] == "why") return parse_why({args.begin() + 1, args.end()}, env);
    if (args[0] == "cache") return parse_cache({args.begin() + 1, args.end()}, env);
    for (const auto& arg : args) {
        if (arg == "-h" || arg == "--help") return HelpRequest{};
    }
    return parse_run(args, env);
}

bool is_syntactic_r_name(const std::string& name) {
    static const std::set<std::string> reserved = {
        "if",   "else", "repeat", "while", "function",    "for",      "next",          "break",       "TRUE", "FALSE",
        "NULL", "Inf",  "NaN",    "NA",    "NA_integer_", "NA_real_", "NA_character_", "NA_complex_", "in"};
    if (name.empty() || reserved.count(name)) return false;
    auto alpha = [](unsigned char c) { return std::isalpha(c) || c >= 0x80; };
    unsigned char first = static_cast<unsigned char>(name[0]);
    if (!(alpha(first) || first == '.')) return false;
    if (first == '.' && name.size() > 1 && std::isdigit(static_cast<unsigned char>(name[1]))) return false;
    for (unsigned char c : name) {
        if (!(alpha(c) || std::isdigit(c) || c == '.' || c == '_')) return false;
    }
    return true;
}

std::string usage_text() {
    return R"(usage: run-notebook IN.ipynb [-o OUT.ipynb] [options]
       run-notebook DOC.Rmd [--to md|html] [-o OUT] [--self-contained] [options]
       run-notebook why NB.ipynb|DOC.Rmd [CELL]  [--cache-dir DIR]
       run-notebook cache stats | gc [--max-size SIZE] | clear   [--cache-dir DIR]

Runs every code cell (or R chunk) in document order through ripple's engine; a notebook is
updated in place unless -o is given (written atomically: the input is never truncated).

options:
  -o, --output FILE        where to write (.ipynb for notebooks, .md or .html for R Markdown)
  -p, --parameter NAME VALUE
                           VALUE is an R literal (10, '"east"', TRUE, 'c(1, 2)'); injected after the
                           cell tagged "parameters" (or first); for R Markdown it overrides params$NAME
  --timeout SECONDS        interrupt a cell that runs longer (exit code 3)
  --allow-errors           keep going after a failing cell (cells tagged raises-exception always may fail)
  --cwd DIR                R's working directory (default: the input file's directory)
  --force                  run every cell, even when the cache holds its result
  --no-cache               do not read or write the cache
  --cache-dir DIR          the cache directory (default $RIPPLE_CACHE_DIR, $XDG_CACHE_HOME/ripple, ~/.cache/ripple)
  --log-output             copy cell output to stderr as it is produced
  --report json|junit FILE write a machine-readable report (may be repeated)
  -q, --quiet              no progress lines; only errors
  --to md|html             R Markdown output format (default: from -o, else the document's output:, else html)
  --self-contained         HTML with figures embedded (no DOC_files/ folder)
  --version, -h/--help

exit codes: 0 ok, 1 a cell failed, 2 bad input or usage, 3 timeout, 4 internal error or R crash.
)";
}

} // namespace ripple::cli
