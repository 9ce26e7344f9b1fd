// r_interpreter.cpp: execute/complete/inspect/is_complete/kernel_info over rbridge and the engine: each request's
// arguments converted, one call made, the result converted back. Must not know about sockets or R headers.
#include "r_interpreter.hpp"

#include <xeus/xhelper.hpp>
#include <xeus/xinput.hpp>

#include <chrono>
#include <cstdlib>
#include <set>

#include "dag/announcement.hpp"
#include "kernel/output_sinks.hpp"
#include "rbridge/r_session.hpp"

#ifndef RIPPLE_VERSION
#define RIPPLE_VERSION "0.0.0"
#endif

namespace ripple::kernel {

RInterpreter::~RInterpreter() {
    // Large values forked children are still writing reach the cache before it closes.
    if (engine_) engine_->finish_background_writes();
}

void RInterpreter::on_idle() {
    if (engine_) engine_->poll_background_writes();
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

RInterpreter::RInterpreter() : outputs_(std::make_unique<RequestOutputs>(*this)) { xeus::register_interpreter(this); }

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
        options.remote = dag::RemoteCacheSettings::from_environment(options.on_warning); // the team cache (SPEC 5)
        options.max_bytes = dag::CacheStore::size_limit_from_environment(dag::CacheStore::resolve_directory(),
                                                                         options.on_warning); // the disk budget
        cache_store_ = std::make_unique<dag::CacheStore>(std::move(options));
        cache_ = std::make_unique<dag::StoreExecutionCache>(*cache_store_);
        engine_->set_cache(cache_.get(), dag::CacheUse::ReadWrite);
        runtime_->enable_cache_support(true);
    }
    rbridge::RSession::get().set_engine_query_handler(
        [this](const nl::json& request) { return engine_query(request); });
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
    double started_cpu = rbridge::EngineRuntime::thread_cpu_seconds();
    double started_gc = engine_enabled_ ? rbridge::EngineRuntime::gc_seconds() : 0.0;
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
    double planning_cpu_ms =
        engine_enabled_ ? 1000.0 * (rbridge::EngineRuntime::thread_cpu_seconds() - started_cpu - timing.run_cpu_seconds)
                        : 0.0;
    double planning_gc_ms =
        engine_enabled_ ? 1000.0 * (rbridge::EngineRuntime::gc_seconds() - started_gc - timing.run_gc_seconds) : 0.0;
    allow_stdin_ = false;
    if (!silent) announce(report);
    if (history_recorder_ && !silent && store_history)
        history_recorder_(execution_counter, code, outputs_->result_text());

    std::optional<rbridge::ErrorInfo> error = outputs_->error_info();
    if (!error && report.requested_failed) error = rbridge::ErrorInfo{"Error", "the cell failed", {}};
    nl::json reply;
    if (error) {
        // Built by hand: xeus 2.4.1's create_error_reply stores ename and evalue swapped.
        reply = {
            {"status", "error"}, {"ename", error->ename}, {"evalue", error->evalue}, {"traceback", error->traceback}};
        reply["payload"] = outputs_->payload();
        reply["user_expressions"] = nl::json::object();
    } else {
        reply = xeus::create_successful_reply(outputs_->payload(), evaluate_user_expressions(user_expressions));
    }
    // Read by bench/engine_bench.py: everything but user code (overhead), and analysis + planning + state
    // restore alone (planning: the overhead less watching the global state and publishing outputs).
    reply["ripple_overhead_ms"] = overhead_ms;
    reply["ripple_planning_ms"] = planning_ms;
    reply["ripple_planning_cpu_ms"] = planning_cpu_ms; // the same, counting only the R thread's CPU time
    reply["ripple_planning_gc_ms"] = planning_gc_ms;   // R's garbage collections that ran during planning
    reply["ripple_from_cache"] = report.from_cache;    // cells served from the cache (outputs replayed, not run)
    return reply;
}

void RInterpreter::announce(const dag::ExecutionReport& report) {
    dag::Announcement said = dag::announce(*engine_, report);
    for (const auto& id : report.marked_stale) {
        const rbridge::MimeBundle* shown = outputs_->shown(id);
        if (shown == nullptr) continue;
        rbridge::MimeBundle marked = with_note(*shown, said.stale_note);
        update_display_data(marked.data, marked.metadata, nl::json{{"display_id", display_id_for(id)}});
    }
    for (const auto& id : report.removed_cells) outputs_->forget(id);
    std::string text = std::move(said.text);
    for (const auto& warning : cache_warnings_) text += warning + "\n";
    cache_warnings_.clear();
    if (!text.empty()) publish_stream("stdout", text);
}

nl::json RInterpreter::sync_notebook(const nl::json& data) {
    if (!data.is_object() || !data.contains("notebook")) {
        return engine_query(data);
    }
    const nl::json& cells = data["notebook"];
    if (!cells.is_array())
        return {{"status", "error"}, {"message", "\"notebook\" must be a list of {\"id\", \"code\"} cells."}};
    std::vector<dag::Cell> order;
    std::set<std::string> seen;
    for (const auto& cell : cells) {
        if (!cell.is_object() || !cell.contains("id") || !cell["id"].is_string() || !cell.contains("code") ||
            !cell["code"].is_string()) {
            return {{"status", "error"},
                    {"message", "every cell of \"notebook\" needs a string \"id\" and a string \"code\"."}};
        }
        std::string id = cell["id"];
        if (!seen.insert(id).second)
            return {{"status", "error"}, {"message", "cell id " + id + " appears twice in \"notebook\"."}};
        order.push_back(dag::Cell{id, cell["code"]});
    }
    outputs_->begin_request(0, false);
    dag::ExecutionReport report = engine_->sync_notebook(std::move(order));
    announce(report);
    return {{"status", "ok"},
            {"reran", report.reran_after},
            {"stale", report.marked_stale},
            {"removed", report.removed_cells}};
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
            for (const auto& symbol : edge.symbols) symbols.push_back(dag::subject_of(symbol));
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
            results[name] = {{"status", "error"},
                             {"ename", capture.error_->ename},
                             {"evalue", capture.error_->evalue},
                             {"traceback", capture.error_->traceback}};
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
    return xeus::create_info_reply("5.3", "ripple", RIPPLE_VERSION, "R", r_version, "text/x-r-source", ".r", "r", "r",
                                   "script",
                                   "ripple " RIPPLE_VERSION " - R " + r_version +
                                       " without hidden state (https://jupyter.org kernel protocol 5.3)",
                                   false, help_links);
}

void RInterpreter::shutdown_request_impl() { rbridge::RSession::get().flush_console(); }

} // namespace ripple::kernel
