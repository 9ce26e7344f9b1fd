// output_sinks.hpp: where a run's outputs go in the kernel: iopub messages for anonymous requests, one display per
// tracked cell (CellDisplay), a capture for user_expressions. Must not know about R headers, sockets or the engine.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <xeus/xinterpreter.hpp>

#include "dag/cell_runtime.hpp"
#include "kernel/cell_display.hpp"
#include "rbridge/engine_runtime.hpp"
#include "rbridge/output_sink.hpp"

namespace ripple::kernel {

// Publishes a cell's outputs as plain Jupyter iopub messages; remembers what the execute_reply needs.
class JupyterSink final : public rbridge::OutputSink {
public:
    JupyterSink(xeus::xinterpreter& interpreter, int execution_count, bool silent)
            : interpreter_(interpreter), execution_count_(execution_count), silent_(silent) {}

    void stream(rbridge::StreamName name, std::string_view text) override;
    void display(const rbridge::MimeBundle& bundle, const std::string& display_id, bool update) override;
    void result(const rbridge::MimeBundle& bundle) override;
    void error(const rbridge::ErrorInfo& error) override;
    void clear_output(bool wait) override;
    void page(const rbridge::MimeBundle& bundle) override;

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

// Routes each run's outputs: anonymous requests speak plain Jupyter (streams, execute_result, error);
// tracked cells get one updatable display each (CellDisplay). Remembers what the reply needs.
class RequestOutputs final : public rbridge::RunOutputs {
public:
    explicit RequestOutputs(xeus::xinterpreter& interpreter) : interpreter_(interpreter) {}

    void begin_request(int execution_count, bool silent);
    rbridge::OutputSink& open(const dag::RunContext& context) override;
    void close(const dag::RunContext& context, rbridge::EvalStatus) override;

    // What a cell shows now (to re-show it with a note in lazy mode).
    const rbridge::MimeBundle* shown(const std::string& cell_id) const;
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

} // namespace ripple::kernel
