// rmd_renderer.cpp: the R Markdown front door: params, chunk options (rmarkdown's defaults, knitr::opts_chunk$set,
// the chunk's own), chunks and inline code through the engine, figures as files, Markdown and pandoc's HTML.
// No engine logic: which cells run is the engine's business; this file decides only how the document looks.
#include "cli/rmd_renderer.hpp"

#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include <unistd.h>

#include "cli/atomic_file.hpp"
#include "cli/engine_session.hpp"
#include "cli/knitr_markdown.hpp"
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

// The options of rmarkdown's formats that decide our output: the target and default figure size.
struct FormatDefaults {
    RenderTarget target = RenderTarget::Html;
    PlotSize plot{7, 5, 96};
};

FormatDefaults format_defaults(const OrderedJson& header) {
    FormatDefaults defaults;
    if (!header.is_object() || !header.contains("output")) return defaults;
    const OrderedJson& output = header["output"];
    std::string format;
    OrderedJson options = OrderedJson::object();
    if (output.is_string()) {
        format = output.get<std::string>();
    } else if (output.is_object() && !output.empty()) {
        format = output.begin().key();
        options = output.begin().value();
    }
    if (format.find("md_document") != std::string::npos || format.find("github_document") != std::string::npos) {
        defaults.target = RenderTarget::Markdown;
    }
    if (options.is_object()) {
        if (options.contains("fig_width") && options["fig_width"].is_number())
            defaults.plot.width_in = options["fig_width"].get<double>();
        if (options.contains("fig_height") && options["fig_height"].is_number())
            defaults.plot.height_in = options["fig_height"].get<double>();
        if (options.contains("dpi") && options["dpi"].is_number()) defaults.plot.dpi = options["dpi"].get<double>();
    }
    return defaults;
}

// Inline `r expr` formatted as knitr's inline hook does for HTML (numbers rounded to getOption("digits"), very
// large or small ones as "a &times; 10<sup>b</sup>", vectors joined with ", "). The expression is evaluated as
// the argument of a function call, so an assignment in it binds in the global environment, as in knitr.
std::string inline_code(const std::string& expression) {
    return "(function(.ripple_x) {\n"
           "  .ripple_num <- function(v) {\n"
           "    if (!(base::class(v)[1L] == \"numeric\") || base::is.na(v) || v == 0) return(base::as.character(v))\n"
           "    if (base::is.infinite(v)) return(if (v < 0) \"-&infin;\" else \"&infin;\")\n"
           "    lx <- base::floor(base::log10(base::abs(v)))\n"
           "    if (base::abs(lx) < base::getOption(\"scipen\") + 4L) return(base::as.character(base::round(v, base::getOption(\"digits\"))))\n"
           "    b <- base::as.character(base::round(v / 10^lx, base::getOption(\"digits\")))\n"
           "    if (b %in% c(\"1\", \"-1\")) b <- base::sub(\"1\", \"\", b, fixed = TRUE)\n"
           "    base::paste0(b, if (b %in% c(\"\", \"-\")) \"\" else \" &times; \", \"10<sup>\", lx, \"</sup>\")\n"
           "  }\n"
           "  if (base::is.numeric(.ripple_x) && !base::inherits(.ripple_x, \"roman\")) .ripple_x <- base::vapply(.ripple_x, .ripple_num, \"\")\n"
           "  base::cat(base::paste(base::as.character(.ripple_x), collapse = \", \"))\n"
           "})(\n" +
           expression + "\n)";
}

// What knitr::opts_chunk$set() changed from knitr's defaults, when the document loaded knitr (a setup chunk).
const char* kChangedChunkDefaults =
    "if (!\"knitr\" %in% base::loadedNamespaces()) base::dput(base::list()) else base::local({\n"
    "  o <- knitr::opts_chunk$get(); d <- knitr::opts_chunk$get(default = TRUE)\n"
    "  keys <- c(\"echo\", \"eval\", \"include\", \"results\", \"message\", \"warning\", \"error\", \"collapse\",\n"
    "            \"comment\", \"fig.width\", \"fig.height\", \"fig.cap\", \"dpi\", \"fig.show\")\n"
    "  changed <- base::Filter(function(k) !base::identical(o[[k]], d[[k]]), keys)\n"
    "  if (base::length(changed)) base::dput(o[changed]) else base::dput(base::list())\n"
    "})";

std::string stdout_of(const CellRun& run) {
    std::string text;
    for (const auto& output : run.outputs) {
        if (output.kind == CellOutput::Kind::Stream && output.stream == "stdout") text += output.text;
    }
    return text;
}

// The code without its leading blank lines and trailing whitespace (the indent of its first line stays).
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
                        const std::string& code, std::optional<PlotSize> plot, bool logged);
    int print_verdicts();
    std::optional<Json> option_value(const Chunk& chunk, const std::string& option,
                                     const std::map<std::string, Json>& inherited);
    void resolve_chunk(const Chunk& chunk, bool& eval, bool& show_error, ChunkLook& look, PlotSize& plot);
    std::string substitute_inline(const std::string& text, size_t first_line);
    std::string render_chunk(const Chunk& chunk, size_t position, size_t total);
    std::string header_markdown();
    std::vector<std::string> write_figures(const Chunk& chunk, const std::vector<CellOutput>& outputs);
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
    FormatDefaults defaults_;
    std::unique_ptr<EngineSession> session_;
    RunRecord record_;
    std::map<std::string, Json> inherited_; // knitr::opts_chunk$set() of earlier chunks
    bool watch_opts_chunk_ = false;
    size_t inline_count_ = 0;
    fs::path figure_dir_;
    std::string figure_link_prefix_;
    std::set<fs::path> figures_written_;
    RmdDryRun* dry_ = nullptr;
};

CellRun RmdRender::run_tracked(const std::string& id, const std::string& shown, const std::string& label,
                               const std::string& code, std::optional<PlotSize> plot, bool logged) {
    CellRun run = session_->run_cell(id, code, plot, logged);
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

std::optional<Json> RmdRender::option_value(const Chunk& chunk, const std::string& option,
                                            const std::map<std::string, Json>& inherited) {
    std::optional<std::string> code = option_code(chunk, option);
    if (!code) {
        auto found = inherited.find(option);
        if (found != inherited.end()) return found->second;
        return std::nullopt;
    }
    if (auto literal = parse_r_literal(*code)) return literal;
    std::string where = name_ + " line " + std::to_string(chunk.line);
    CellRun run = session_->run_untracked("base::dput((" + *code + "))");
    if (run.failed) {
        const CellOutput* error = error_of(run.outputs);
        stop(ExitCode::CellFailed, where + ": the option " + option + " = " + *code + " of chunk " + chunk.label +
                                       " could not be evaluated" + (error ? ": " + error->evalue : std::string()) +
                                       ".");
    }
    std::string text = stdout_of(run);
    auto value = parse_r_literal(text);
    if (!value) {
        stop(ExitCode::BadInput, where + ": the option " + option + " = " + *code + " of chunk " + chunk.label +
                                     " is not a plain value (TRUE, a number or a string).");
    }
    return value;
}

void RmdRender::resolve_chunk(const Chunk& chunk, bool& eval, bool& show_error, ChunkLook& look, PlotSize& plot) {
    std::string where = name_ + " line " + std::to_string(chunk.line) + ": chunk " + chunk.label;
    auto flag = [&](const char* option, bool fallback) {
        auto value = option_value(chunk, option, inherited_);
        if (!value || value->is_null()) return fallback;
        if (is_r_na(*value)) return false;
        if (value->is_boolean()) return value->get<bool>();
        stop(ExitCode::BadInput,
             where + ": the option " + std::string(option) + " must be TRUE or FALSE, not " + value->dump() + ".");
    };
    auto number = [&](const char* option, double fallback) {
        auto value = option_value(chunk, option, inherited_);
        if (!value || value->is_null()) return fallback;
        if (value->is_array() && !value->empty()) *value = (*value)[0];
        if (value->is_number() && value->get<double>() > 0) return value->get<double>();
        stop(ExitCode::BadInput,
             where + ": the option " + std::string(option) + " must be a positive number, not " + value->dump() + ".");
    };
    auto text = [&](const char* option) -> std::optional<Json> {
        auto value = option_value(chunk, option, inherited_);
        if (value && value->is_array() && !value->empty()) *value = (*value)[0];
        return value;
    };
    eval = flag("eval", true);
    show_error = flag("error", false);
    look.echo = flag("echo", true);
    look.include = flag("include", true);
    look.message = flag("message", true);
    look.warning = flag("warning", true);
    look.collapse = flag("collapse", false);
    if (auto results = text("results")) {
        if (results->is_boolean() && !results->get<bool>()) {
            look.results = ChunkLook::Results::Hide;
        } else if (results->is_string()) {
            std::string mode = results->get<std::string>();
            if (mode == "markup") look.results = ChunkLook::Results::Markup;
            else if (mode == "asis") look.results = ChunkLook::Results::Asis;
            else if (mode == "hide") look.results = ChunkLook::Results::Hide;
            else if (mode == "hold") look.results = ChunkLook::Results::Hold;
            else
                stop(ExitCode::BadInput,
                     where + ": results must be \"markup\", \"asis\", \"hold\" or \"hide\", not \"" + mode + "\".");
        } else if (!results->is_null()) {
            stop(ExitCode::BadInput, where + ": results must be \"markup\", \"asis\", \"hold\" or \"hide\".");
        }
    }
    if (auto comment = text("comment")) {
        if (comment->is_string()) look.comment = comment->get<std::string>();
        else if (comment->is_null() || is_r_na(*comment)) look.comment = std::nullopt;
        else stop(ExitCode::BadInput, where + ": comment must be a string or NA.");
    }
    if (auto caption = text("fig.cap"); caption && caption->is_string()) look.fig_cap = caption->get<std::string>();
    if (auto show = text("fig.show"); show && show->is_string()) look.show_figures = show->get<std::string>() != "hide";
    plot.width_in = number("fig.width", defaults_.plot.width_in);
    plot.height_in = number("fig.height", defaults_.plot.height_in);
    plot.dpi = number("dpi", defaults_.plot.dpi);
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
        CellRun run = run_tracked(id, id, "r " + shorten(span.code, 30), inline_code(span.code), std::nullopt, false);
        std::string where = name_ + " line " + std::to_string(line);
        if (run.timed_out)
            stop(ExitCode::Timeout,
                 where + ": the inline R code `r " + span.code + "` ran longer than --timeout and was interrupted.");
        check_signal();
        if (run.failed) {
            const CellOutput* error = error_of(run.outputs);
            stop(ExitCode::CellFailed,
                 where + ": the inline R code `r " + span.code + "` failed" +
                     (error ? ": " + knitr_error_text(*error).substr(0, knitr_error_text(*error).size() - 1)
                            : std::string()) +
                     ".");
        }
        out += stdout_of(run);
        at = span.offset + span.length;
    }
    return out + text.substr(at);
}

std::vector<std::string> RmdRender::write_figures(const Chunk& chunk, const std::vector<CellOutput>& outputs) {
    std::vector<std::string> links;
    size_t number = 0;
    for (const auto& output : outputs) {
        if (!is_figure(output)) continue;
        ++number;
        bool png = output.data.contains("image/png");
        const Json& content = png ? output.data["image/png"] : output.data["image/svg+xml"];
        std::optional<std::string> bytes;
        if (content.is_string()) bytes = png ? decode_base64(content.get<std::string>()) : content.get<std::string>();
        if (!bytes) {
            links.emplace_back();
            continue;
        }
        std::string file = chunk.label + "-" + std::to_string(number) + (png ? ".png" : ".svg");
        for (char& c : file) {
            if (c == '/' || c == '\\' || c == ' ') c = '_';
        }
        std::error_code ec;
        fs::create_directories(figure_dir_, ec);
        try {
            write_file_atomically(figure_dir_ / file, *bytes);
        } catch (const FileError& e) {
            stop(ExitCode::Internal, std::string("cannot write a figure: ") + e.what());
        }
        figures_written_.insert(figure_dir_ / file);
        links.push_back(figure_link_prefix_ + file);
    }
    return links;
}

std::string RmdRender::render_chunk(const Chunk& chunk, size_t position, size_t total) {
    CellRecord cell;
    cell.position = position;
    cell.id = chunk.label;
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
    if (watch_opts_chunk_) {
        CellRun query = session_->run_untracked(kChangedChunkDefaults);
        auto changed = parse_r_literal(stdout_of(query));
        inherited_.clear();
        if (changed && changed->is_object()) {
            for (const auto& [key, value] : changed->items()) inherited_[key] = value;
        }
    }
    bool eval = true, show_error = false;
    ChunkLook look;
    PlotSize plot = defaults_.plot;
    resolve_chunk(chunk, eval, show_error, look, plot);
    std::vector<CellOutput> outputs;
    if (eval && source.find_first_not_of(" \t\r\n") != std::string::npos) {
        check_signal();
        progress_.start_cell(position, total, chunk.label);
        // knitr::opts_chunk$set() changes knitr's state, not a variable, and later chunks' options read it: such a
        // chunk always runs (served from the cache, it would show its output without setting anything).
        bool sets_chunk_options = chunk.code.find("opts_chunk") != std::string::npos;
        CellRun run = run_tracked("chunk:" + chunk.label, chunk.label, shorten(source, 40),
                                  sets_chunk_options ? "#| cache: false\n" + chunk.code : chunk.code, plot, true);
        if (sets_chunk_options) watch_opts_chunk_ = true;
        cell.seconds = run.seconds;
        cell.from_cache = run.from_cache;
        cell.status = run.timed_out                                          ? CellStatus::Timeout
                      : run.interrupted && EngineSession::stop_signal() != 0 ? CellStatus::Interrupted
                      : run.failed                                           ? CellStatus::Error
                                                                             : CellStatus::Ok;
        if (const CellOutput* error = error_of(run.outputs)) cell.error = *error;
        if (cell.status == CellStatus::Timeout) cell.error = timeout_error(*request_.timeout_seconds);
        record_.cells.push_back(cell);
        progress_.finish_cell(cell.status, run.seconds, run.from_cache);
        for (const auto& notice : run.notices) progress_.note(notice);
        check_signal();
        std::string where = name_ + " line " + std::to_string(chunk.line) + ": chunk " + chunk.label;
        if (cell.status == CellStatus::Timeout) {
            stop(ExitCode::Timeout, where + " ran longer than --timeout and was interrupted.");
        }
        if (cell.status == CellStatus::Error && !show_error) {
            const CellOutput* error = error_of(run.outputs);
            stop(ExitCode::CellFailed, where + " failed" + (error ? ": " + error->evalue : std::string()) + ".",
                 error ? describe_error(*error) : std::string());
        }
        outputs = std::move(run.outputs);
    } else {
        cell.status = CellStatus::Skipped;
        record_.cells.push_back(cell);
    }
    std::vector<std::string> links = look.include && !dry_ ? write_figures(chunk, outputs) : std::vector<std::string>{};
    return chunk_markdown(source, outputs, links, look);
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
    defaults_ = format_defaults(doc_.header);
    RenderTarget target = request_.to ? *request_.to : defaults_.target;
    if (request_.self_contained && target != RenderTarget::Html) {
        throw InputError("--self-contained applies to HTML output, and " + name_ + " renders to Markdown.");
    }
    fs::path default_output = request_.input;
    default_output.replace_extension(target == RenderTarget::Html ? ".html" : ".md");
    paths_ = resolve_paths(request_, default_output);
    if (paths_.output == paths_.input)
        throw InputError("the output " + paths_.output.string() + " would overwrite the document.");
    std::string stem = paths_.output.stem().string();
    figure_dir_ = paths_.output.parent_path() / (stem + "_files") / "figure-html";
    figure_link_prefix_ = stem + "_files/figure-html/";

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
            std::optional<std::string> key;
            if (session_->cache_available()) {
                key = pandoc_run_key(markdown, paths_.output.parent_path(), request_.self_contained, title, figures);
            }
            std::optional<std::string> cached_html = key ? session_->cached_artifact(*key) : std::nullopt;
            if (cached_html) {
                write_file_atomically(paths_.output, *cached_html);
            } else {
                fs::path md_file =
                    paths_.output.parent_path() / ("." + stem + ".knit-" + std::to_string(getpid()) + ".md");
                write_file_atomically(md_file, markdown);
                fs::path html_tmp =
                    paths_.output.parent_path() / ("." + stem + ".html-" + std::to_string(getpid()) + ".tmp");
                try {
                    pandoc_to_html(md_file, html_tmp, paths_.output.parent_path(), request_.self_contained, title);
                } catch (...) {
                    fs::remove(md_file, ec);
                    fs::remove(html_tmp, ec);
                    throw;
                }
                fs::remove(md_file, ec);
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
                fs::remove(figure_dir_, ec);
                fs::remove(figure_dir_.parent_path(), ec);
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
    if (fs::is_directory(figure_dir_, ec)) {
        for (const auto& entry : fs::directory_iterator(figure_dir_, ec)) {
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
