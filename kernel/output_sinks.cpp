// output_sinks.cpp: a run's outputs as iopub messages or a cell's display, and what the execute_reply needs.
// Must not know about R headers, sockets or the engine.
#include "kernel/output_sinks.hpp"

namespace ripple::kernel {

void JupyterSink::stream(rbridge::StreamName name, std::string_view text) {
    if (silent_) return;
    interpreter_.publish_stream(name == rbridge::StreamName::Stdout ? "stdout" : "stderr", std::string(text));
}

void JupyterSink::display(const rbridge::MimeBundle& bundle, const std::string& display_id, bool update) {
    if (silent_) return;
    nl::json transient = nl::json::object();
    if (!display_id.empty()) transient["display_id"] = display_id;
    if (update) interpreter_.update_display_data(bundle.data, bundle.metadata, transient);
    else interpreter_.display_data(bundle.data, bundle.metadata, transient);
}

void JupyterSink::result(const rbridge::MimeBundle& bundle) {
    if (bundle.data.contains("text/plain") && bundle.data["text/plain"].is_string()) {
        result_text_ = bundle.data["text/plain"].get<std::string>();
    }
    if (silent_) return;
    interpreter_.publish_execution_result(execution_count_, bundle.data, bundle.metadata);
}

void JupyterSink::error(const rbridge::ErrorInfo& error) {
    error_ = error;
    if (silent_) return;
    interpreter_.publish_execution_error(error.ename, error.evalue, error.traceback);
}

void JupyterSink::clear_output(bool wait) {
    if (!silent_) interpreter_.clear_output(wait);
}

void JupyterSink::page(const rbridge::MimeBundle& bundle) {
    payload_.push_back({{"source", "page"}, {"data", bundle.data}, {"start", 0}});
}

void RequestOutputs::begin_request(int execution_count, bool silent) {
    execution_count_ = execution_count;
    silent_ = silent;
    error_.reset();
    payload_ = nl::json::array();
    result_text_.clear();
}

rbridge::OutputSink& RequestOutputs::open(const dag::RunContext& context) {
    if (context.cell_id.empty()) {
        anonymous_ = std::make_unique<JupyterSink>(interpreter_, execution_count_, silent_);
        return *anonymous_;
    }
    display_ = std::make_unique<CellDisplay>(interpreter_, context.cell_id, !context.requested, silent_);
    return *display_;
}

void RequestOutputs::close(const dag::RunContext& context, rbridge::EvalStatus) {
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

const rbridge::MimeBundle* RequestOutputs::shown(const std::string& cell_id) const {
    auto found = shown_.find(cell_id);
    return found == shown_.end() ? nullptr : &found->second;
}

} // namespace ripple::kernel
