// rmd_renderer.cpp: the R Markdown front door: params, chunks and inline code through the engine, each chunk's Markdown
// made by knitr itself (ripple:::.knit_chunk), figures as files, widget dependencies, Markdown and pandoc's HTML.
// No engine logic: which cells run is the engine's business; knitr decides how a chunk looks.
#include "cli/rmd_renderer.hpp"

#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include <unistd.h>

#include "cli/atomic_file.hpp"
#include "cli/engine_session.hpp"
#include "cli/pandoc_html.hpp"
#include "cli/plain_text.hpp"
#include "cli/r_literal.hpp"
#include "cli/rmd_document.hpp"
#include "cli/run_support.hpp"

namespace ripple::cli {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

namespace {

// The output format of the header (its first one): the default target and the format options that are knitr's chunk
// options (fig_width, fig_height, dpi, fig_retina, dev), as rmarkdown's html_document and md_document give them.
struct OutputFormat {
    RenderTarget target = RenderTarget::Html;
    OrderedJson options = OrderedJson::object();
};

OutputFormat output_format(const OrderedJson& header) {
    OutputFormat format;
    if (!header.is_object() || !header.contains("output")) return format;
    const OrderedJson& output = header["output"];
    std::string name;
    if (output.is_string()) {
        name = output.get<std::string>();
    } else if (output.is_object() && !output.empty()) {
        name = output.begin().key();
        if (output.begin().value().is_object()) format.options = output.begin().value();
    }
    if (name.find("md_document") != std::string::npos || name.find("github_document") != std::string::npos) {
        format.target = RenderTarget::Markdown;
    }
    return format;
}

// The format's chunk options as R code (rmarkdown's knitr_options_html / md_document: png at 96 dpi, 7 x 5 in, and
// fig.retina = 2 for HTML only).
std::string format_chunk_options(const OutputFormat& format, RenderTarget target) {
    auto number = [&](const char* key, const char* fallback) {
        if (format.options.contains(key) && format.options[key].is_number()) return format.options[key].dump();
        return std::string(fallback);
    };
    std::string retina = target == RenderTarget::Html ? number("fig_retina", "2") : "NULL";
    if (format.options.contains("fig_retina") && format.options["fig_retina"].is_null()) retina = "NULL";
    std::string dev = format.options.contains("dev") && format.options["dev"].is_string()
                          ? r_string_literal(format.options["dev"].get<std::string>())
                          : "\"png\"";
    return "list(dev = " + dev + ", dpi = " + number("dpi", "96") + ", fig.width = " + number("fig_width", "7") +
           ", fig.height = " + number("fig_height", "5") + ", fig.retina = " + retina + ")";
}

// Inline `r expr`, written as knitr's inline hook writes it. The expression is evaluated as the argument of a
// function call, so an assignment in it binds in the global environment, as in knitr.
std::string inline_code(const std::string& expression, const std::string& pandoc_to) {
    return "(function(.ripple_x) ripple:::.knit_inline(.ripple_x, " + r_string_literal(pandoc_to) + "))(\n" +
           expression + "\n)";
}

// knitr's fig.path names the output (OUT_files/figure-html/); knitr is given this word instead and the Markdown and
// figure paths get the output's name after, so that a chunk's cache entry serves any output name.
const std::string kOutputStem = "RIPPLE-OUTPUT-STEM";

std::string with_output_stem(std::string text, const std::string& stem) {
    const std::string placeholder = kOutputStem + "_files/";
    for (size_t at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder, at + stem.size()))
        text.replace(at, kOutputStem.size(), stem);
    return text;
}

// The part of a chunk's recorded outputs that knitr made: its Markdown display (rbridge::CellEvaluator::knit_next_cell).
const CellOutput* knitted_output(const std::vector<CellOutput>& outputs) {
    for (const auto& output : outputs) {
        if (output.kind == CellOutput::Kind::Display && output.data.contains("text/markdown") &&
            output.data.contains("application/vnd.ripple.knit+json"))
            return &output;
    }
    return nullptr;
}

std::string stdout_of(const CellRun& run) {
    std::string text;
    for (const auto& output : run.outputs) {
        if (output.kind == CellOutput::Kind::Stream && output.stream == "stdout") text += output.text;
    }
    return text;
}

// The code without its leading blank lines and trailing whitespace (the indent of its first line stays): how a chunk
// in another language is shown.
std::string trim_blank_lines(const std::string& code) {
    std::vector<std::string> lines = split_lines(code, true);
    size_t first = 0;
    while (first < lines.size() && lines[first].back() == '\n' && trim(lines[first]).empty()) ++first;
    std::string body;
    for (size_t i = first; i < lines.size(); ++i) body += lines[i];
    return trim_end(body);
}

// A failure that stops the render: the exit code and the sentence (and maybe an error's traceback) to print.
struct RenderStop {
    ExitCode code;
    std::string message;
    std::string details;
};

// `why` for a document: a dry run of the render (nothing runs, nothing is written) and the verdict of each cell.
struct RmdDryRun {
    std::optional<std::string> cell; // the one cell asked about (chunk label, chunk:LABEL, inline:N or params)
    std::ostream* out = nullptr;
    struct Seen {
        std::string id, shown, label;
    };
    std::vector<Seen> order; // cells in document order, each once
    std::map<std::string, std::vector<std::string>> would_run;
    std::set<std::string> cached;
};

class RmdRender {
public:
    RmdRender(const RunRequest& request, Progress& progress, RmdDocument doc, std::string name,
              RmdDryRun* dry = nullptr)
            : request_(request), progress_(progress), doc_(std::move(doc)), name_(std::move(name)), dry_(dry) {}

    int render();

private:
    // Runs a tracked cell (a chunk, an inline expression, the params); in a dry run, notes its verdict and reports
    // nothing as failed (nothing ran).
    CellRun run_tracked(const std::string& id, const std::string& shown, const std::string& label,
                        const std::string& code, std::optional<KnitChunk> knit, bool logged);
    int print_verdicts();
    std::string option_code(const Chunk& chunk, const ChunkOption& option);
    std::string chunk_request(const Chunk& chunk, bool& eval);
    std::string substitute_inline(const std::string& text, size_t first_line);
    std::string render_chunk(const Chunk& chunk, size_t position, size_t total);
    std::string header_markdown();
    void take_knitted(const Chunk& chunk, const Json& knitted);
    [[noreturn]] void stop(ExitCode code, const std::string& message, const std::string& details = "") {
        throw RenderStop{code, message, details};
    }
    void check_signal() {
        if (EngineSession::stop_signal() != 0) throw RenderStop{ExitCode::Ok, "", ""};
    }

    const RunRequest& request_;
    Progress& progress_;
    RmdDocument doc_;
    std::string name_;
    ResolvedPaths paths_;
    std::string pandoc_to_;      // what knitr is told the document becomes (opts_knit's rmarkdown.pandoc.to)
    std::string format_options_; // the output format's chunk options (R code)
    std::unique_ptr<EngineSession> session_;
    RunRecord record_;
    // What earlier chunks set in knitr (opts_chunk, knit_hooks, opts_hooks), R code as ripple:::.knit_chunk left it.
    std::string carried_ = "NULL";
    size_t inline_count_ = 0;
    fs::path files_dir_;   // OUT_files: figures go under it, as knitr's fig.path says
    std::string fig_path_; // knitr's fig.path, with kOutputStem for the output's name
    std::set<fs::path> figures_written_;
    std::vector<std::pair<std::string, std::string>> dependencies_; // widget dependencies (name, inline HTML), once
    RmdDryRun* dry_ = nullptr;
};

CellRun RmdRender::run_tracked(const std::string& id, const std::string& shown, const std::string& label,
                               const std::string& code, std::optional<KnitChunk> knit, bool logged) {
    CellRun run = session_->run_cell(id, code, std::move(knit), logged);
    if (!dry_) return run;
    bool seen = false;
    for (const auto& cell : dry_->order) seen = seen || cell.id == id;
    if (!seen) dry_->order.push_back({id, shown, label});
    for (auto& [cell, reasons] : run.would_run) dry_->would_run.emplace(cell, std::move(reasons));
    dry_->cached.insert(run.served_from_cache.begin(), run.served_from_cache.end());
    run.failed = run.timed_out = false;
    return run;
}

int RmdRender::print_verdicts() {
    std::ostream& out = *dry_->out;
    bool found = false;
    for (const auto& cell : dry_->order) {
        if (dry_->cell && *dry_->cell != cell.id && *dry_->cell != cell.shown) continue;
        found = true;
        std::string verdict;
        if (auto reasons = dry_->would_run.find(cell.id);
            reasons != dry_->would_run.end() && !reasons->second.empty()) {
            verdict = "would rerun: ";
            for (size_t i = 0; i < reasons->second.size(); ++i) verdict += (i ? "; " : "") + reasons->second[i];
        } else if (dry_->cached.count(cell.id)) {
            verdict = "cached";
        } else {
            verdict = "would rerun: it is not in the cache";
        }
        out << cell.shown << " [" << cell.label << "]: " << verdict << "\n";
    }
    out.flush();
    if (!found && dry_->cell) {
        throw InputError(name_ + " has no chunk " + *dry_->cell + " that would run (chunk labels, inline:N, params).");
    }
    return 0;
}

// A chunk option's value as R code for knitr: as written when it is a literal, else the value the expression has now
// (deparsed), so that the cache key holds what the option is (`eval = params$show` changes with params).
std::string RmdRender::option_code(const Chunk& chunk, const ChunkOption& option) {
    if (parse_r_literal(option.code)) return option.code;
    std::string where = name_ + " line " + std::to_string(chunk.line);
    CellRun run = session_->run_untracked("base::cat(ripple:::.knit_deparse((" + option.code + ")))");
    if (run.failed) {
        const CellOutput* error = error_of(run.outputs);
        stop(ExitCode::CellFailed, where + ": the option " + option.name + " = " + option.code + " of chunk " +
                                       chunk.label + " could not be evaluated" +
                                       (error ? ": " + error->evalue : std::string()) + ".");
    }
    return stdout_of(run);
}

// The request for ripple:::.knit_chunk (share/R/ripple/R/knit.R): the chunk header with its options resolved, its
// source, the format's and earlier chunks' options. `eval` says whether R evaluates the chunk at all.
std::string RmdRender::chunk_request(const Chunk& chunk, bool& eval) {
    std::string header = "label = " + r_string_literal(chunk.label);
    std::map<std::string, std::string> resolved; // a later option of the same name wins, as in knitr
    std::vector<std::string> order;
    for (const auto& option : chunk.options) {
        if (option.name == "label") continue;
        if (!resolved.count(option.name)) order.push_back(option.name);
        resolved[option.name] = option_code(chunk, option);
    }
    eval = true;
    for (const auto& name : order) {
        header += ", " + name + " = " + resolved[name];
        if (name == "eval") {
            auto value = parse_r_literal(resolved[name]);
            eval = !(value && ((value->is_boolean() && !value->get<bool>()) || value->is_null() || is_r_na(*value)));
        }
    }
    return "list(header = " + r_string_literal(header) + ", source = " + r_string_literal(chunk.code) +
           ", indent = " + r_string_literal(chunk.indent) + ", format = " + format_options_ +
           ", carried = " + r_string_literal(carried_) + ", pandoc_to = " + r_string_literal(pandoc_to_) +
           ", fig_path = " + r_string_literal(fig_path_) + ")";
}

std::string RmdRender::substitute_inline(const std::string& text, size_t first_line) {
    std::vector<InlineCode> spans = find_inline_code(text);
    if (spans.empty()) return text;
    std::string out;
    size_t at = 0;
    for (const auto& span : spans) {
        check_signal();
        size_t line = first_line;
        for (size_t i = 0; i < span.offset; ++i) line += text[i] == '\n';
        out += text.substr(at, span.offset - at);
        std::string id = "inline:" + std::to_string(++inline_count_); // cell ids by kind: never equal to a chunk's
        CellRun run =
            run_tracked(id, id, "r " + shorten(span.code, 30), inline_code(span.code, pandoc_to_), std::nullopt, false);
        std::string where = name_ + " line " + std::to_string(line);
        if (run.timed_out)
            stop(ExitCode::Timeout,
                 where + ": the inline R code `r " + span.code + "` ran longer than --timeout and was interrupted.");
        check_signal();
        if (run.failed) {
            const CellOutput* error = error_of(run.outputs);
            stop(ExitCode::CellFailed, where + ": the inline R code `r " + span.code + "` failed" +
                                           (error ? ": " + error->evalue : std::string()) + ".");
        }
        out += stdout_of(run);
        at = span.offset + span.length;
    }
    return out + text.substr(at);
}

// What knitr made besides the Markdown: figure files (written next to the output, where its links point), what the
// chunk left set in knitr for the next ones, widget dependencies for the page.
void RmdRender::take_knitted(const Chunk& chunk, const Json& knitted) {
    if (knitted.contains("carried") && knitted["carried"].is_string()) carried_ = knitted["carried"].get<std::string>();
    if (dry_) return;
    if (knitted.contains("figures") && knitted["figures"].is_array()) {
        for (const auto& figure : knitted["figures"]) {
            if (!figure.contains("path") || !figure["path"].is_string() || !figure.contains("base64")) continue;
            std::optional<std::string> bytes =
                figure["base64"].is_string() ? decode_base64(figure["base64"].get<std::string>()) : std::nullopt;
            fs::path relative =
                fs::path(with_output_stem(figure["path"].get<std::string>(), paths_.output.stem().string()))
                    .lexically_normal();
            if (!bytes || relative.is_absolute() || relative.string().rfind("..", 0) == 0) continue;
            fs::path file = paths_.output.parent_path() / relative;
            std::error_code ec;
            fs::create_directories(file.parent_path(), ec);
            try {
                write_file_atomically(file, *bytes);
            } catch (const FileError& e) {
                stop(ExitCode::Internal, "chunk " + chunk.label + ": cannot write a figure: " + e.what());
            }
            figures_written_.insert(file);
        }
    }
    if (knitted.contains("dependencies") && knitted["dependencies"].is_array()) {
        for (const auto& dependency : knitted["dependencies"]) {
            if (!dependency.contains("name") || !dependency["name"].is_string() || !dependency.contains("html") ||
                !dependency["html"].is_string())
                continue;
            std::string name = dependency["name"].get<std::string>();
            bool seen = false;
            for (const auto& [known, html] : dependencies_) seen = seen || known == name;
            if (!seen) dependencies_.emplace_back(name, dependency["html"].get<std::string>());
        }
    }
}

std::string RmdRender::render_chunk(const Chunk& chunk, size_t position, size_t total) {
    CellRecord cell;
    cell.position = position;
    // A chunk that reuses an earlier one's code (same label) is a cell of its own.
    cell.id = chunk.reuses_code ? chunk.label + "@" + std::to_string(chunk.line) : chunk.label;
    cell.label = chunk.label;
    cell.line = chunk.line;
    std::string source = trim_blank_lines(chunk.code);
    if (chunk.engine != "r") {
        cell.status = CellStatus::Skipped;
        record_.cells.push_back(cell);
        progress_.note("run-notebook: " + name_ + " line " + std::to_string(chunk.line) + ": the " + chunk.engine +
                       " chunk " + chunk.label + " is shown, not run (run-notebook runs R chunks only).");
        return source.empty() ? "" : "```" + chunk.engine + "\n" + source + "\n```\n";
    }
    bool eval = true;
    KnitChunk knit{chunk_request(chunk, eval)};
    // A chunk R does not evaluate (eval = FALSE) is still knitted (its source shown) as a cell that reads and binds
    // nothing; its key is the request, which holds the source.
    bool evaluates = eval && source.find_first_not_of(" \t\r\n") != std::string::npos;
    check_signal();
    if (evaluates) progress_.start_cell(position, total, chunk.label);
    CellRun run = run_tracked("chunk:" + cell.id, cell.id, shorten(source, 40),
                              evaluates ? chunk.code : std::string("NULL"), knit, evaluates);
    cell.seconds = run.seconds;
    cell.from_cache = run.from_cache;
    cell.status = run.timed_out                                          ? CellStatus::Timeout
                  : run.interrupted && EngineSession::stop_signal() != 0 ? CellStatus::Interrupted
                  : run.failed                                           ? CellStatus::Error
                  : !evaluates                                           ? CellStatus::Skipped
                                                                         : CellStatus::Ok;
    if (const CellOutput* error = error_of(run.outputs)) cell.error = *error;
    if (cell.status == CellStatus::Timeout) cell.error = timeout_error(*request_.timeout_seconds);
    const CellOutput* knitted = knitted_output(run.outputs);
    if (knitted && cell.status == CellStatus::Ok &&
        knitted->data["application/vnd.ripple.knit+json"].value("error_shown", false)) {
        cell.status = CellStatus::Error; // shown in the chunk (error = TRUE); the render goes on
    }
    record_.cells.push_back(cell);
    if (evaluates) progress_.finish_cell(cell.status, run.seconds, run.from_cache);
    for (const auto& notice : run.notices) progress_.note(notice);
    check_signal();
    std::string where = name_ + " line " + std::to_string(chunk.line) + ": chunk " + chunk.label;
    if (cell.status == CellStatus::Timeout)
        stop(ExitCode::Timeout, where + " ran longer than --timeout and was interrupted.");
    if (run.failed || cell.status == CellStatus::Interrupted) {
        // knitr keeps an error in the chunk's output when the chunk says error = TRUE; one that reaches us stops.
        const CellOutput* error = error_of(run.outputs);
        stop(ExitCode::CellFailed, where + " failed" + (error ? ": " + error->evalue : std::string()) + ".",
             error ? describe_error(*error) : std::string());
    }
    if (!knitted) {
        if (dry_) return "";
        stop(ExitCode::Internal, where + ": knitr returned no Markdown for it.");
    }
    take_knitted(chunk, knitted->data["application/vnd.ripple.knit+json"]);
    const Json& markdown = knitted->data["text/markdown"];
    return markdown.is_string() ? with_output_stem(markdown.get<std::string>(), paths_.output.stem().string())
                                : std::string();
}

std::string RmdRender::header_markdown() {
    if (!doc_.has_header) return "";
    std::string yaml;
    for (const char* key : {"title", "subtitle", "author", "date"}) {
        if (!doc_.header.contains(key)) continue;
        const OrderedJson& value = doc_.header[key];
        std::vector<std::string> items;
        if (value.is_string()) items.push_back(value.get<std::string>());
        else if (value.is_array()) {
            for (const auto& item : value) {
                if (item.is_string()) items.push_back(item.get<std::string>());
                else if (item.is_object() && item.contains("name") && item["name"].is_string())
                    items.push_back(item["name"].get<std::string>());
            }
        } else if (value.is_number()) items.push_back(value.dump());
        if (items.empty()) continue;
        for (auto& item : items) item = substitute_inline(item, doc_.header_line);
        // JSON strings are valid YAML double-quoted scalars.
        if (value.is_array()) {
            yaml += std::string(key) + ":\n";
            for (const auto& item : items) yaml += "  - " + Json(item).dump() + "\n";
        } else {
            yaml += std::string(key) + ": " + Json(items[0]).dump() + "\n";
        }
    }
    return yaml.empty() ? "" : "---\n" + yaml + "---\n\n";
}

int RmdRender::render() {
    OutputFormat format = output_format(doc_.header);
    RenderTarget target = request_.to ? *request_.to : format.target;
    // As rmarkdown's html_document and md_document (markdown_strict) tell knitr.
    pandoc_to_ = target == RenderTarget::Html ? "html" : "markdown_strict";
    format_options_ = format_chunk_options(format, target);
    if (request_.self_contained && target != RenderTarget::Html) {
        throw InputError("--self-contained applies to HTML output, and " + name_ + " renders to Markdown.");
    }
    fs::path default_output = request_.input;
    default_output.replace_extension(target == RenderTarget::Html ? ".html" : ".md");
    paths_ = resolve_paths(request_, default_output);
    if (paths_.output == paths_.input)
        throw InputError("the output " + paths_.output.string() + " would overwrite the document.");
    std::string stem = paths_.output.stem().string();
    files_dir_ = paths_.output.parent_path() / (stem + "_files");
    fig_path_ = kOutputStem + "_files/figure-" + pandoc_to_ + "/";

    // params: the header's values (a value or {value: ...}), overridden by -p.
    std::vector<std::pair<std::string, std::string>> params;
    if (doc_.header.is_object() && doc_.header.contains("params")) {
        const OrderedJson& declared = doc_.header["params"];
        if (!declared.is_object()) {
            throw InputError(name_ + " line " + std::to_string(doc_.header_line) +
                             ": params in the YAML header must be \"name: value\" lines.");
        }
        for (const auto& [key, value] : declared.items()) {
            const OrderedJson& given = value.is_object() && value.contains("value") ? value["value"] : value;
            params.emplace_back(key, r_code_for(given));
        }
    }
    for (const auto& parameter : request_.parameters) {
        bool found = false;
        for (auto& [key, code] : params) {
            if (key == parameter.name) {
                code = parameter.value;
                found = true;
            }
        }
        if (!found)
            throw InputError("-p " + parameter.name + ": " + name_ + " declares no parameter " + parameter.name +
                             " (params: in its YAML header).");
    }

    record_.input = request_.input.string();
    record_.output = paths_.output.string();
    record_.kind = "rmarkdown";
    record_.started = iso_timestamp_now();
    record_.cache = request_.cache;
    auto started = std::chrono::steady_clock::now();

    std::error_code ec;
    fs::current_path(paths_.working_dir, ec);
    if (ec)
        throw InputError("cannot change to the directory " + paths_.working_dir.string() + ": " + ec.message() + ".");
    SessionSettings settings;
    settings.r_library = EngineSession::default_r_library();
    settings.cache = request_.cache;
    settings.cache_scopes = {cache_scope(paths_.input)};
    settings.cache_warning = [this](const std::string& line) { progress_.error(line); };
    settings.timeout_seconds = request_.timeout_seconds;
    if (request_.log_output) {
        settings.live_output = [this](const CellOutput& output) {
            if (output.kind == CellOutput::Kind::Stream) progress_.live(output.text);
            else if (output.kind == CellOutput::Kind::Error) progress_.live(describe_error(output));
            else if (output.data.contains("text/markdown") && output.data["text/markdown"].is_string())
                progress_.live(output.data["text/markdown"].get<std::string>()); // a chunk as knitr wrote it
            else if (output.data.contains("text/plain") && output.data["text/plain"].is_string()) {
                progress_.live(output.data["text/plain"].get<std::string>() + "\n");
            }
        };
    }
    settings.on_stuck = [this] {
        progress_.error("run-notebook: " + name_ +
                        ": a chunk ran longer than --timeout and did not stop when interrupted; nothing was written.");
        record_.exit_code = ExitCode::Timeout;
        write_reports(paths_.reports, record_, progress_);
        std::fflush(nullptr);
        _exit(static_cast<int>(ExitCode::Timeout));
    };
    try {
        session_ = std::make_unique<EngineSession>(settings);
    } catch (const std::exception& e) {
        progress_.error(std::string("run-notebook: R could not start: ") + e.what());
        return static_cast<int>(ExitCode::Internal);
    }
    record_.cache_available = session_->cache_available();
    if (dry_) {
        if (!session_->cache_available()) {
            throw InputError("why: the cache in " + request_.cache.dir.string() +
                             " cannot be opened (see the line above).");
        }
        session_->start_dry_run(cache_scope(paths_.input));
    }
    for (const auto& parameter : request_.parameters) {
        if (!session_->is_complete(parameter.value)) {
            throw InputError("-p " + parameter.name + ": " + parameter.value +
                             " is not R code (pass an R literal such as 10, TRUE or '\"east\"').");
        }
    }

    size_t total = 0;
    for (const auto& block : doc_.blocks) {
        if (const Chunk* chunk = std::get_if<Chunk>(&block); chunk && chunk->engine == "r") ++total;
    }
    ExitCode exit = ExitCode::Ok;
    std::string markdown;
    try {
        if (!params.empty()) {
            std::string code = "params <- list(";
            for (size_t i = 0; i < params.size(); ++i)
                code += (i ? ", " : "") + std::string("`") + params[i].first + "` = " + params[i].second;
            code += ")";
            CellRun run = run_tracked("params", "params", "the YAML header's params", code, std::nullopt, false);
            check_signal();
            if (run.failed) {
                const CellOutput* error = error_of(run.outputs);
                stop(run.timed_out ? ExitCode::Timeout : ExitCode::CellFailed,
                     name_ + " line " + std::to_string(doc_.header_line) +
                         ": the params of the YAML header could not be evaluated" +
                         (error ? ": " + error->evalue : std::string()) + ".");
            }
        }
        markdown = header_markdown();
        size_t position = 0;
        for (const auto& block : doc_.blocks) {
            if (const TextBlock* text = std::get_if<TextBlock>(&block)) {
                markdown += substitute_inline(text->text, text->line);
                continue;
            }
            const Chunk& chunk = std::get<Chunk>(block);
            if (chunk.engine == "r") ++position;
            markdown += render_chunk(chunk, position, total);
        }
    } catch (const RenderStop& failure) {
        record_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if (int signal = EngineSession::stop_signal(); signal != 0) {
            progress_.error("run-notebook: stopped by signal " + std::to_string(signal) + "; nothing was written.");
            return 128 + signal;
        }
        exit = failure.code;
        record_.exit_code = exit;
        record_.message = failure.message;
        progress_.error("run-notebook: " + failure.message + (failure.details.empty() ? "" : "\n" + failure.details) +
                        (exit == ExitCode::Internal ? "" : "\n(nothing was written)"));
        write_reports(paths_.reports, record_, progress_);
        return static_cast<int>(exit);
    }
    if (dry_) return print_verdicts();

    try {
        if (target == RenderTarget::Markdown) {
            write_file_atomically(paths_.output, markdown);
        } else {
            std::string title = doc_.header.is_object() && doc_.header.contains("title") ? "" : stem;
            // The same Markdown and figures through the same pandoc give the same HTML: served from the cache.
            std::vector<fs::path> figures(figures_written_.begin(), figures_written_.end());
            std::string head; // widget libraries, each once, in the order chunks first used them
            for (const auto& [name, html] : dependencies_) head += html + "\n";
            std::optional<std::string> key;
            if (session_->cache_available()) {
                key = pandoc_run_key(markdown + std::string(1, '\0') + head, paths_.output.parent_path(),
                                     request_.self_contained, title, figures);
            }
            std::optional<std::string> cached_html = key ? session_->cached_artifact(*key) : std::nullopt;
            if (cached_html) {
                write_file_atomically(paths_.output, *cached_html);
            } else {
                fs::path md_file =
                    paths_.output.parent_path() / ("." + stem + ".knit-" + std::to_string(getpid()) + ".md");
                write_file_atomically(md_file, markdown);
                fs::path head_file;
                if (!head.empty()) {
                    head_file =
                        paths_.output.parent_path() / ("." + stem + ".head-" + std::to_string(getpid()) + ".html");
                    write_file_atomically(head_file, head);
                }
                fs::path html_tmp =
                    paths_.output.parent_path() / ("." + stem + ".html-" + std::to_string(getpid()) + ".tmp");
                try {
                    pandoc_to_html(md_file, html_tmp, paths_.output.parent_path(), request_.self_contained, title,
                                   head_file);
                } catch (...) {
                    fs::remove(md_file, ec);
                    if (!head_file.empty()) fs::remove(head_file, ec);
                    fs::remove(html_tmp, ec);
                    throw;
                }
                fs::remove(md_file, ec);
                if (!head_file.empty()) fs::remove(head_file, ec);
                if (key) session_->store_artifact(*key, read_text_file(html_tmp), "pandoc HTML of " + stem);
                if (::rename(html_tmp.c_str(), paths_.output.c_str()) != 0) {
                    fs::remove(html_tmp, ec);
                    throw FileError("cannot replace " + paths_.output.string() + ".");
                }
            }
            record_.html_from_cache = cached_html.has_value();
            if (request_.self_contained) {
                // Figures live inside the HTML now, as with rmarkdown's self_contained.
                for (const auto& figure : figures_written_) fs::remove(figure, ec);
                fs::remove_all(files_dir_ / ("figure-" + pandoc_to_), ec);
                fs::remove(files_dir_, ec); // only when empty
                figures_written_.clear();
            }
        }
    } catch (const PandocError& e) {
        progress_.error(std::string("run-notebook: ") + e.what());
        record_.exit_code = ExitCode::Internal;
        write_reports(paths_.reports, record_, progress_);
        return static_cast<int>(ExitCode::Internal);
    } catch (const FileError& e) {
        progress_.error(std::string("run-notebook: ") + e.what());
        record_.exit_code = ExitCode::Internal;
        write_reports(paths_.reports, record_, progress_);
        return static_cast<int>(ExitCode::Internal);
    }
    // Figures of an earlier render that this one no longer makes.
    fs::path figure_dir = files_dir_ / ("figure-" + pandoc_to_);
    if (fs::is_directory(figure_dir, ec)) {
        for (const auto& entry : fs::directory_iterator(figure_dir, ec)) {
            if (!figures_written_.count(entry.path())) fs::remove(entry.path(), ec);
        }
    }
    record_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    record_.exit_code = exit;
    record_.r_started = session_->r_started();
    record_.r_start_seconds = session_->r_start_seconds().value_or(0);
    write_reports(paths_.reports, record_, progress_);
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.2f", record_.seconds);
    size_t ran = 0, cached = 0;
    for (const auto& cell : record_.cells) {
        if (cell.from_cache) ++cached;
        else ran += cell.status == CellStatus::Ok || cell.status == CellStatus::Error;
    }
    progress_.summary("run-notebook: " + std::to_string(ran + cached) + " of " + std::to_string(total) +
                      " chunks done in " + seconds + " s (" + std::to_string(ran) + " run, " + std::to_string(cached) +
                      " from the cache" + r_start_note(record_) + ") -> " + record_.output);
    return static_cast<int>(exit);
}

} // namespace

int render_rmd(const RunRequest& request, Progress& progress) {
    std::string text;
    try {
        text = read_text_file(request.input);
    } catch (const FileError& e) {
        throw InputError(e.what());
    }
    RmdDocument doc;
    try {
        doc = parse_rmd(text, request.input.string());
    } catch (const RmdError& e) {
        throw InputError(e.what());
    }
    RmdRender render(request, progress, std::move(doc), request.input.string());
    return render.render();
}

int explain_rmd(const WhyRequest& request, Progress& progress, std::ostream& out) {
    if (!request.cache.enabled) {
        throw InputError("run-notebook why compares " + request.notebook.string() +
                         " with the cache, and --no-cache leaves nothing to compare.");
    }
    if (request.cache.force) {
        throw InputError("run-notebook why: --force runs every chunk, so there is nothing to explain.");
    }
    std::string text;
    try {
        text = read_text_file(request.notebook);
    } catch (const FileError& e) {
        throw InputError(e.what());
    }
    RmdDocument doc;
    try {
        doc = parse_rmd(text, request.notebook.string());
    } catch (const RmdError& e) {
        throw InputError(e.what());
    }
    // The render as a plain `run-notebook DOC.Rmd --to md` would do it, minus running and writing.
    RunRequest run;
    run.kind = InputKind::RMarkdown;
    run.input = request.notebook;
    run.cache = request.cache;
    run.quiet = true;
    run.to = RenderTarget::Markdown;
    RmdDryRun dry;
    dry.cell = request.cell;
    dry.out = &out;
    RmdRender render(run, progress, std::move(doc), request.notebook.string(), &dry);
    return render.render();
}

} // namespace ripple::cli
