// r_interpreter.cpp: execute/complete/inspect/is_complete/kernel_info over rbridge, and the sink
// that turns a cell's outputs into Jupyter iopub messages. Must not know about sockets or R headers.
#include "r_interpreter.hpp"

#include <xeus/xhelper.hpp>
#include <xeus/xinput.hpp>

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

} // namespace

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

RInterpreter::RInterpreter() { xeus::register_interpreter(this); }

void RInterpreter::configure_impl() {
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
    notebook_.record(cell);
    JupyterSink sink(*this, execution_counter, silent);
    evaluator_.execute(code, sink);
    allow_stdin_ = false;
    if (history_recorder_ && !silent && store_history) history_recorder_(execution_counter, code, sink.result_text());

    if (const auto& error = sink.error_info()) {
        // Built by hand: xeus 2.4.1's create_error_reply stores ename and evalue swapped.
        nl::json reply = {{"status", "error"}, {"ename", error->ename}, {"evalue", error->evalue},
                          {"traceback", error->traceback}};
        reply["payload"] = sink.payload();
        reply["user_expressions"] = nl::json::object();
        return reply;
    }
    nl::json expressions = evaluate_user_expressions(user_expressions);
    return xeus::create_successful_reply(sink.payload(), expressions);
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
