// r_interpreter.cpp: execute/complete/inspect/is_complete/kernel_info over rbridge, and the sink
// that turns a cell's outputs into Jupyter iopub messages. Must not know about sockets or R headers.
#include "r_interpreter.hpp"

#include <algorithm>

#include <xeus/xhelper.hpp>
#include <xeus/xinput.hpp>

#include <chrono>
#include <cstdlib>
#include <set>

#include "rbridge/r_session.hpp"

#ifndef RIPPLE_VERSION
#define RIPPLE_VERSION "0.0.0"
#endif

namespace ripple::kernel {

namespace {


// Publishes a cell's outputs as iopub messages; remembers what the execute_reply needs.
class JupyterSink final : public rbridge::OutputSink {
public:
    JupyterSink(xeus::xinterpreter& interpreter, int execution_count, bool silent)
        : interpreter_(interpreter), execution_count_(execution_count), silent_(silent) {}

    void stream(rbridge::StreamName name, std::string_view text) override {
        if (silent_) return;
        interpreter_.publish_stream(name == rbridge::StreamName::Stdout ? "stdout" : "stderr", std::string(text));
    }
    void display(const rbridge::MimeBundle& bundle, const std::string& display_id, bool update) override {
        if (silent_) return;
        nl::json transient = nl::json::object();
        if (!display_id.empty()) transient["display_id"] = display_id;
        if (update) interpreter_.update_display_data(bundle.data, bundle.metadata, transient);
        else interpreter_.display_data(bundle.data, bundle.metadata, transient);
    }
    void result(const rbridge::MimeBundle& bundle) override {
        if (bundle.data.contains("text/plain") && bundle.data["text/plain"].is_string()) {
            result_text_ = bundle.data["text/plain"].get<std::string>();
        }
        if (silent_) return;
        interpreter_.publish_execution_result(execution_count_, bundle.data, bundle.metadata);
    }
    void error(const rbridge::ErrorInfo& error) override {
        error_ = error;
        if (silent_) return;
        interpreter_.publish_execution_error(error.ename, error.evalue, error.traceback);
    }
    void clear_output(bool wait) override {
        if (!silent_) interpreter_.clear_output(wait);
    }
    void page(const rbridge::MimeBundle& bundle) override {
        payload_.push_back({{"source", "page"}, {"data", bundle.data}, {"start", 0}});
    }

    const std::optional<rbridge::ErrorInfo>& error_info() const { return error_; }
    const nl::json& payload() const { return payload_; }
    const std::string& result_text() const { return result_text_; }

private:
    xeus::xinterpreter& interpreter_;
    int execution_count_;
    bool silent_;
    std::optional<rbridge::ErrorInfo> error_;
    nl::json payload_ = nl::json::array();
    std::string result_text_;
};

// Collects only what a user expression evaluates to (Jupyter's user_expressions).
class CaptureSink final : public rbridge::OutputSink {
public:
    void stream(rbridge::StreamName, std::string_view) override {}
    void display(const rbridge::MimeBundle&, const std::string&, bool) override {}
    void result(const rbridge::MimeBundle& bundle) override { result_ = bundle; }
    void error(const rbridge::ErrorInfo& error) override { error_ = error; }
    void clear_output(bool) override {}
    void page(const rbridge::MimeBundle&) override {}
    std::optional<rbridge::MimeBundle> result_;
    std::optional<rbridge::ErrorInfo> error_;
};

std::string join_labels(const dag::Engine& engine, const std::vector<std::string>& ids) {
    std::string text;
    for (const auto& id : ids) text += (text.empty() ? "[" : " [") + engine.label(id) + "]";
    return text;
}

std::string symbol_name(const std::string& symbol) {
    if (symbol == dag::kOptionsSymbol) return "options()";
    if (symbol == dag::kWorkdirSymbol) return "the working directory";
    if (symbol == dag::kSearchSymbol) return "the attached packages";
    if (symbol.rfind(dag::kFilePrefix, 0) == 0) return "file " + symbol.substr(dag::kFilePrefix.size());
    return symbol;
}

// The root causes: what changed for these cells, minus what they changed for each other.
std::string changed_symbols(const dag::Engine& engine, const dag::ExecutionReport& report,
                            const std::vector<std::string>& ids) {
    std::set<std::string> changed, passed_on;
    for (const auto& id : ids) {
        if (auto found = report.reasons.find(id); found != report.reasons.end()) {
            changed.insert(found->second.begin(), found->second.end());
        }
        if (const dag::Execution* execution = engine.last_execution(id)) {
            for (const auto& [symbol, value] : execution->outputs) passed_on.insert(symbol);
        }
    }
    std::set<std::string> symbols;
    for (const auto& symbol : changed) {
        if (!passed_on.count(symbol)) symbols.insert(symbol_name(symbol));
    }
    if (symbols.empty()) {
        for (const auto& symbol : changed) symbols.insert(symbol_name(symbol));
    }
    std::string text;
    for (const auto& symbol : symbols) text += (text.empty() ? "" : ", ") + symbol;
    return text;
}

} // namespace

// Routes each run's outputs: anonymous requests speak plain Jupyter (streams, execute_result, error);
// tracked cells get one updatable display each (CellDisplay). Remembers what the reply needs.
class RInterpreter::Outputs final : public rbridge::RunOutputs {
public:
    explicit Outputs(xeus::xinterpreter& interpreter) : interpreter_(interpreter) {}

    void begin_request(int execution_count, bool silent) {
        execution_count_ = execution_count;
        silent_ = silent;
        error_.reset();
        payload_ = nl::json::array();
        result_text_.clear();
    }

    rbridge::OutputSink& open(const dag::RunContext& context) override {
        if (context.cell_id.empty()) {
            anonymous_ = std::make_unique<JupyterSink>(interpreter_, execution_count_, silent_);
            return *anonymous_;
        }
        display_ = std::make_unique<CellDisplay>(interpreter_, context.cell_id, !context.requested, silent_);
        return *display_;
    }

    void close(const dag::RunContext& context, rbridge::EvalStatus) override {
        if (context.cell_id.empty()) {
            if (context.requested && anonymous_) {
                error_ = anonymous_->error_info();
                payload_ = anonymous_->payload();
                result_text_ = anonymous_->result_text();
            }
            anonymous_.reset();
            return;
        }
        display_->finish();
        shown_[context.cell_id] = display_->bundle();
        if (context.requested) {
            error_ = display_->error_info();
            payload_ = display_->payload();
            result_text_ = display_->result_text();
        }
        display_.reset();
    }

    // What a cell shows now (to re-show it with a note in lazy mode).
    const rbridge::MimeBundle* shown(const std::string& cell_id) const {
        auto found = shown_.find(cell_id);
        return found == shown_.end() ? nullptr : &found->second;
    }
    void forget(const std::string& cell_id) { shown_.erase(cell_id); }

    const std::optional<rbridge::ErrorInfo>& error_info() const { return error_; }
    const nl::json& payload() const { return payload_; }
    const std::string& result_text() const { return result_text_; }

private:
    xeus::xinterpreter& interpreter_;
    int execution_count_ = 0;
    bool silent_ = false;
    std::unique_ptr<JupyterSink> anonymous_;
    std::unique_ptr<CellDisplay> display_;
    std::map<std::string, rbridge::MimeBundle> shown_;
    std::optional<rbridge::ErrorInfo> error_;
    nl::json payload_ = nl::json::array();
    std::string result_text_;
};

RInterpreter::~RInterpreter() = default;

void RInterpreter::on_idle() {
    if (cache_store_) cache_store_->record_hits();
}

void RInterpreter::observe_request(const xeus::xmessage& request) {
    if (request.header().value("msg_type", std::string()) != "execute_request") return;
    request_ = RequestContext{};
    const nl::json& metadata = request.metadata();
    if (!metadata.is_object()) return;
    request_.metadata = metadata;
    if (auto it = metadata.find("cellId"); it != metadata.end() && it->is_string()) request_.cell_id = *it;
    if (auto it = metadata.find("deletedCells"); it != metadata.end() && it->is_array()) {
        for (const auto& id : *it) {
            if (id.is_string()) request_.deleted_cells.push_back(id);
        }
    }
}

RInterpreter::RInterpreter() : outputs_(std::make_unique<Outputs>(*this)) { xeus::register_interpreter(this); }

void RInterpreter::configure_impl() {
    const char* engine_switch = std::getenv("RIPPLE_ENGINE");
    engine_enabled_ = engine_switch == nullptr || std::string(engine_switch) != "off";
    runtime_ = std::make_unique<rbridge::EngineRuntime>(evaluator_, *outputs_);
    engine_ = std::make_unique<dag::Engine>(*runtime_);
    // The persistent cache (SPEC 5): $RIPPLE_CACHE_DIR, else $XDG_CACHE_HOME/ripple, else ~/.cache/ripple.
    const char* cache_switch = std::getenv("RIPPLE_CACHE");
    if (engine_enabled_ && (cache_switch == nullptr || std::string(cache_switch) != "off")) {
        dag::CacheStoreOptions options;
        options.on_warning = [this](const std::string& line) { cache_warnings_.push_back(line); };
        cache_store_ = std::make_unique<dag::CacheStore>(std::move(options));
        cache_ = std::make_unique<dag::StoreExecutionCache>(*cache_store_);
        engine_->set_cache(cache_.get(), dag::CacheUse::ReadWrite);
        runtime_->enable_cache_support(true);
    }
    rbridge::RSession::get().set_engine_query_handler([this](const nl::json& request) { return engine_query(request); });
    comm_manager().register_comm_target("ripple", [this](xeus::xcomm&& comm, xeus::xmessage request) {
        std::string id(comm.id().c_str());
        comm.on_message([this](xeus::xmessage message) { on_comm_message(message); });
        comm.on_close([this, id](xeus::xmessage) { comms_.erase(id); });
        auto [where, added] = comms_.insert_or_assign(id, std::move(comm));
        const nl::json& data = request.content().value("data", nl::json::object());
        if (data.is_object() && !data.empty()) {
            where->second.send(nl::json::object(), sync_notebook(data), {});
        }
    });
    rbridge::RSession::get().set_input_handler(
        [this](const std::string& prompt, bool password) -> std::optional<std::string> {
            if (!allow_stdin_) return std::nullopt;
            std::string value = xeus::blocking_input_request(prompt, password);
            if (rbridge::RSession::interrupt_requested()) return std::nullopt;
            return value;
        });
}

nl::json RInterpreter::execute_request_impl(int execution_counter, const std::string& code, bool silent,
                                            bool store_history, nl::json user_expressions, bool allow_stdin) {
    rbridge::RSession& session = rbridge::RSession::get();
    session.set_request_metadata(request_.metadata.dump(-1, ' ', false, nl::json::error_handler_t::replace));
    allow_stdin_ = allow_stdin;
    dag::CellRequest cell{code, std::nullopt, request_.deleted_cells};
    if (!request_.cell_id.empty()) cell.cell_id = request_.cell_id;
    outputs_->begin_request(execution_counter, silent);
    auto started = std::chrono::steady_clock::now();
    dag::ExecutionReport report;
    if (engine_enabled_) {
        runtime_->take_timing();
        report = engine_->execute(cell, execution_counter);
    } else {
        // RIPPLE_ENGINE=off: a plain R kernel (for measuring the engine's overhead).
        dag::RunContext context{"", true, execution_counter};
        rbridge::EvalStatus status = evaluator_.execute(code, outputs_->open(context));
        outputs_->close(context, status);
    }
    double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    rbridge::EngineRuntime::Timing timing = runtime_->take_timing();
    double overhead_ms = engine_enabled_ ? 1000.0 * (total - timing.eval_seconds) : 0.0;
    double planning_ms = engine_enabled_ ? 1000.0 * (total - timing.run_seconds) : 0.0;
    allow_stdin_ = false;
    if (!silent) announce(report);
    if (history_recorder_ && !silent && store_history) history_recorder_(execution_counter, code, outputs_->result_text());

    std::optional<rbridge::ErrorInfo> error = outputs_->error_info();
    if (!error && report.requested_failed) error = rbridge::ErrorInfo{"Error", "the cell failed", {}};
    if (error) {
        // Built by hand: xeus 2.4.1's create_error_reply stores ename and evalue swapped.
        nl::json reply = {{"status", "error"}, {"ename", error->ename}, {"evalue", error->evalue},
                          {"traceback", error->traceback}};
        reply["payload"] = outputs_->payload();
        reply["user_expressions"] = nl::json::object();
        reply["ripple_overhead_ms"] = overhead_ms;
        reply["ripple_planning_ms"] = planning_ms;
        reply["ripple_from_cache"] = report.from_cache;
        return reply;
    }
    nl::json expressions = evaluate_user_expressions(user_expressions);
    nl::json reply = xeus::create_successful_reply(outputs_->payload(), expressions);
    // Read by bench/engine_bench.py: everything but user code (overhead), and analysis + planning + state
    // restore alone (planning: the overhead less watching the global state and publishing outputs).
    reply["ripple_overhead_ms"] = overhead_ms;
    reply["ripple_planning_ms"] = planning_ms;
    reply["ripple_from_cache"] = report.from_cache;  // cells served from the cache (outputs replayed, not run)
    return reply;
}

void RInterpreter::announce(const dag::ExecutionReport& report) {
    std::string text;
    if (!report.ran_before.empty()) {
        text += "\u21bb ran first " + join_labels(*engine_, report.ran_before) + ": stale cells it reads from\n";
    }
    if (!report.reran_after.empty()) {
        std::string why = changed_symbols(*engine_, report, report.reran_after);
        std::vector<std::string> cached;
        for (const auto& id : report.reran_after) {
            if (std::find(report.from_cache.begin(), report.from_cache.end(), id) != report.from_cache.end()) cached.push_back(id);
        }
        text += "\u21bb reran " + join_labels(*engine_, report.reran_after) + (why.empty() ? "" : ": " + why + " changed") +
                (cached.empty() ? "" : " (" + join_labels(*engine_, cached) + " from the cache)") + "\n";
    }
    if (!report.marked_stale.empty()) {
        std::string why = changed_symbols(*engine_, report, report.marked_stale);
        text += "\u26a0 stale now " + join_labels(*engine_, report.marked_stale) +
                (why.empty() ? "" : ": " + why + " changed") + " (lazy mode: run them to update)\n";
        for (const auto& id : report.marked_stale) {
            const rbridge::MimeBundle* shown = outputs_->shown(id);
            if (shown == nullptr) continue;
            rbridge::MimeBundle marked = with_note(
                *shown, "\u26a0 stale: " + (why.empty() ? std::string("its inputs") : why) + " changed above; run this cell to update");
            update_display_data(marked.data, marked.metadata, nl::json{{"display_id", display_id_for(id)}});
        }
    }
    for (const auto& id : report.removed_cells) outputs_->forget(id);
    for (const auto& notice : report.notices) text += notice + "\n";
    for (const auto& warning : cache_warnings_) text += warning + "\n";
    cache_warnings_.clear();
    if (!text.empty()) publish_stream("stdout", text);
}

nl::json RInterpreter::sync_notebook(const nl::json& data) {
    if (!data.is_object() || !data.contains("notebook")) {
        return engine_query(data);
    }
    const nl::json& cells = data["notebook"];
    if (!cells.is_array()) return {{"status", "error"}, {"message", "\"notebook\" must be a list of {\"id\", \"code\"} cells."}};
    std::vector<dag::Cell> order;
    std::set<std::string> seen;
    for (const auto& cell : cells) {
        if (!cell.is_object() || !cell.contains("id") || !cell["id"].is_string() || !cell.contains("code") ||
            !cell["code"].is_string()) {
            return {{"status", "error"}, {"message", "every cell of \"notebook\" needs a string \"id\" and a string \"code\"."}};
        }
        std::string id = cell["id"];
        if (!seen.insert(id).second) return {{"status", "error"}, {"message", "cell id " + id + " appears twice in \"notebook\"."}};
        order.push_back(dag::Cell{id, cell["code"]});
    }
    outputs_->begin_request(0, false);
    dag::ExecutionReport report = engine_->sync_notebook(std::move(order));
    announce(report);
    return {{"status", "ok"}, {"reran", report.reran_after}, {"stale", report.marked_stale}, {"removed", report.removed_cells}};
}

void RInterpreter::on_comm_message(const xeus::xmessage& message) {
    const nl::json& content = message.content();
    std::string comm_id = content.value("comm_id", std::string());
    nl::json reply;
    try {
        reply = sync_notebook(content.value("data", nl::json::object()));
    } catch (const std::exception& e) {
        reply = {{"status", "error"}, {"message", std::string("the ripple comm message failed: ") + e.what()}};
    }
    if (auto found = comms_.find(comm_id); found != comms_.end()) found->second.send(nl::json::object(), reply, {});
}

nl::json RInterpreter::engine_query(const nl::json& request) {
    auto bad = [](const std::string& message) { return nl::json{{"status", "error"}, {"message", message}}; };
    if (!request.is_object() || !request.contains("request") || !request["request"].is_string()) {
        return bad("a ripple request needs \"request\": \"why\", \"graph\" or \"mode\" (or \"notebook\": [...]).");
    }
    const std::string what = request["request"];
    if (what == "why") {
        if (!request.contains("cell") || !request["cell"].is_string()) return bad("\"why\" needs a \"cell\" id.");
        std::string text = engine_->why(request["cell"]);
        std::string cache = engine_->why_cache(request["cell"]);
        return {{"status", "ok"}, {"text", cache.empty() ? text : text + "\n" + cache}};
    }
    if (what == "mode") {
        if (request.contains("mode") && request["mode"].is_string()) {
            std::string mode = request["mode"];
            if (mode == "lazy") engine_->set_mode(dag::EngineMode::Lazy);
            else if (mode == "reactive") engine_->set_mode(dag::EngineMode::Reactive);
            else return bad("mode must be \"reactive\" or \"lazy\", not \"" + mode + "\".");
        }
        return {{"status", "ok"}, {"mode", engine_->mode() == dag::EngineMode::Lazy ? "lazy" : "reactive"}};
    }
    if (what == "graph") {
        nl::json cells = nl::json::array();
        for (const auto& cell : engine_->order().cells()) {
            dag::Staleness staleness = engine_->staleness(cell.id);
            cells.push_back({{"id", cell.id}, {"label", engine_->label(cell.id)}, {"stale", staleness.stale}});
        }
        nl::json edges = nl::json::array();
        for (const auto& edge : engine_->edges()) {
            nl::json symbols = nl::json::array();
            for (const auto& symbol : edge.symbols) symbols.push_back(symbol_name(symbol));
            edges.push_back({{"from", edge.from}, {"to", edge.to}, {"symbols", symbols}});
        }
        return {{"status", "ok"}, {"cells", cells}, {"edges", edges}};
    }
    return bad("unknown ripple request \"" + what + "\" (use why, graph or mode).");
}

nl::json RInterpreter::evaluate_user_expressions(const nl::json& expressions) {
    nl::json results = nl::json::object();
    if (!expressions.is_object()) return results;
    for (const auto& [name, expression] : expressions.items()) {
        if (!expression.is_string()) continue;
        CaptureSink capture;
        evaluator_.execute(expression.get<std::string>(), capture);
        if (capture.error_) {
            results[name] = {{"status", "error"}, {"ename", capture.error_->ename},
                             {"evalue", capture.error_->evalue}, {"traceback", capture.error_->traceback}};
        } else {
            rbridge::MimeBundle bundle = capture.result_.value_or(rbridge::MimeBundle{});
            results[name] = {{"status", "ok"}, {"data", bundle.data}, {"metadata", bundle.metadata}};
        }
    }
    return results;
}

nl::json RInterpreter::complete_request_impl(const std::string& code, int cursor_pos) {
    if (cursor_pos < 0 || cursor_pos > static_cast<int>(code.size())) cursor_pos = static_cast<int>(code.size());
    rbridge::Completion completion = evaluator_.complete(code, cursor_pos);
    return xeus::create_complete_reply(completion.matches, completion.cursor_start, completion.cursor_end);
}

nl::json RInterpreter::inspect_request_impl(const std::string& code, int cursor_pos, int /*detail_level*/) {
    if (cursor_pos < 0 || cursor_pos > static_cast<int>(code.size())) cursor_pos = static_cast<int>(code.size());
    rbridge::MimeBundle bundle = evaluator_.inspect(code, cursor_pos);
    bool found = !bundle.data.empty();
    return xeus::create_inspect_reply(found, bundle.data, nl::json::object());
}

nl::json RInterpreter::is_complete_request_impl(const std::string& code) {
    switch (evaluator_.check_completeness(code)) {
    case rbridge::CodeCompleteness::Complete: return xeus::create_is_complete_reply("complete");
    case rbridge::CodeCompleteness::Incomplete: return xeus::create_is_complete_reply("incomplete", "  ");
    default: return xeus::create_is_complete_reply("invalid");
    }
}

nl::json RInterpreter::kernel_info_request_impl() {
    std::string r_version = rbridge::RSession::get().r_version();
    nl::json help_links = nl::json::array({
        {{"text", "R documentation"}, {"url", "https://cran.r-project.org/manuals.html"}},
    });
    return xeus::create_info_reply("5.3", "ripple", RIPPLE_VERSION, "R", r_version, "text/x-r-source", ".r", "r",
                                   "r", "script",
                                   "ripple " RIPPLE_VERSION " - R " + r_version +
                                       " without hidden state (https://jupyter.org kernel protocol 5.3)",
                                   false, help_links);
}

void RInterpreter::shutdown_request_impl() { rbridge::RSession::get().flush_console(); }

} // namespace ripple::kernel
