// r_interpreter.hpp: the xeus interpreter of ripple-kernel: maps Jupyter requests to the R session.
// Must not know about sockets or R headers; R is reached through rbridge, engine state through dag.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <xeus/xcomm.hpp>
#include <xeus/xinterpreter.hpp>
#include <xeus/xmessage.hpp>

#include "dag/engine.hpp"
#include "dag/notebook_order.hpp"
#include "dag/store_execution_cache.hpp"
#include "kernel/cell_display.hpp"
#include "rbridge/cell_evaluator.hpp"
#include "rbridge/engine_runtime.hpp"

namespace ripple::kernel {

class RequestOutputs;

// What the front end told us about the request being executed (JupyterLab: cellId, deletedCells).
struct RequestContext {
    nl::json metadata = nl::json::object();
    std::string cell_id;                    // empty for anonymous requests (console, scripts)
    std::vector<std::string> deleted_cells; // cell ids deleted since the last execution
};

class RInterpreter final : public xeus::xinterpreter {
public:
    // Receives every execution that belongs in history: its count, code and text/plain result (or "").
    using HistoryRecorder =
        std::function<void(int execution_count, const std::string& code, const std::string& result_text)>;

    // Registers itself as xeus's global interpreter: xeus::blocking_input_request (stdin) needs it.
    RInterpreter();
    ~RInterpreter() override;
    // Called by the server on the main thread before each shell request reaches xeus.
    void observe_request(const xeus::xmessage& request);
    const RequestContext& current_request() const { return request_; }
    // The cells seen so far, in the kernel's document order.
    const dag::NotebookOrder& notebook() const { return engine_->order(); }
    // Answers the R functions ripple::why(), ripple::graph(), ripple::mode() and the comm's requests.
    nl::json engine_query(const nl::json& request);
    // Receives the text/plain of each execute_result (for history with output=True).
    void set_history_recorder(HistoryRecorder recorder) { history_recorder_ = std::move(recorder); }
    // Between requests (the server found nothing to do): writes what was deferred, e.g. the cache's hit records.
    void on_idle();

private:
    void configure_impl() override;
    nl::json execute_request_impl(int execution_counter, const std::string& code, bool silent, bool store_history,
                                  nl::json user_expressions, bool allow_stdin) override;
    nl::json complete_request_impl(const std::string& code, int cursor_pos) override;
    nl::json inspect_request_impl(const std::string& code, int cursor_pos, int detail_level) override;
    nl::json is_complete_request_impl(const std::string& code) override;
    nl::json kernel_info_request_impl() override;
    void shutdown_request_impl() override;

    nl::json evaluate_user_expressions(const nl::json& expressions);
    // Publishes what an engine request did beyond the requested cell: the reran line, notices, stale marks.
    void announce(const dag::ExecutionReport& report);
    void on_comm_message(const xeus::xmessage& message);
    nl::json sync_notebook(const nl::json& data);

    rbridge::CellEvaluator evaluator_;
    RequestContext request_;
    std::unique_ptr<RequestOutputs> outputs_;
    std::unique_ptr<rbridge::EngineRuntime> runtime_;
    std::unique_ptr<dag::Engine> engine_;
    std::unique_ptr<dag::CacheStore> cache_store_; // RIPPLE_CACHE=off: none
    std::unique_ptr<dag::StoreExecutionCache> cache_;
    std::vector<std::string> cache_warnings_; // shown once, with the next cell's announcement
    std::map<std::string, xeus::xcomm> comms_;
    bool engine_enabled_ = true; // RIPPLE_ENGINE=off runs every request as a plain R kernel would
    HistoryRecorder history_recorder_;
    bool allow_stdin_ = false;
};

} // namespace ripple::kernel
