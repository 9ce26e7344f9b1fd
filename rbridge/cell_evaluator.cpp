// cell_evaluator.cpp: the per-cell evaluation protocol (parse, evaluate, display, plots, errors)
// and parser-based introspection. Must not know about Jupyter or the engine.
#include "cell_evaluator.hpp"

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <openssl/evp.h>

#include "r_session.hpp"
#include "r_values.hpp"

#include <R_ext/Parse.h>

namespace ripple::rbridge {

namespace {

bool inherits(SEXP value, const char* cls) { return value != nullptr && Rf_inherits(value, cls); }

ErrorInfo error_from_record(SEXP record) {
    ErrorInfo info;
    info.ename = as_string(list_element(record, "ename"), "Error");
    info.evalue = as_string(list_element(record, "evalue"));
    info.traceback = as_strings(list_element(record, "traceback"));
    return info;
}

ErrorInfo interrupt_error() {
    return {"KeyboardInterrupt", "Execution interrupted", {"Interrupted: the cell was stopped by the user."}};
}

std::string base64(const std::string& bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

// Points the session's console at a sink for the duration of a cell.
class SinkScope {
public:
    explicit SinkScope(OutputSink& sink) : previous_(RSession::get().sink()) { RSession::get().set_sink(&sink); }
    ~SinkScope() { RSession::get().set_sink(previous_); }
    SinkScope(const SinkScope&) = delete;
    SinkScope& operator=(const SinkScope&) = delete;

private:
    OutputSink* previous_;
};

MimeBundle bundle_from(SEXP list) {
    MimeBundle bundle;
    bundle.data = to_json(list_element(list, "data"));
    nlohmann::json metadata = to_json(list_element(list, "metadata"));
    if (metadata.is_object()) bundle.metadata = std::move(metadata);
    if (!bundle.data.is_object()) bundle.data = nlohmann::json::object();
    return bundle;
}

// Publishes the plots a cell drew (files written by its graphics devices) and removes them.
void publish_plots(SEXP plots, OutputSink& sink) {
    if (plots == nullptr || plots == R_NilValue) return;
    std::vector<std::string> files = as_strings(list_element(plots, "files"));
    std::vector<std::string> mimes = as_strings(list_element(plots, "mime"));
    SEXP widths = list_element(plots, "width");
    SEXP heights = list_element(plots, "height");
    for (size_t i = 0; i < files.size(); ++i) {
        std::optional<std::string> content = read_file(files[i]);
        if (!content || content->empty()) continue;
        MimeBundle bundle;
        const std::string& mime = mimes[i];
        bundle.data[mime] = mime == "image/png" ? base64(*content) : *content;
        bundle.data["text/plain"] = "<Figure " + std::to_string(i + 1) + ">";
        if (TYPEOF(widths) == REALSXP && TYPEOF(heights) == REALSXP) {
            bundle.metadata[mime] = {{"width", REAL(widths)[i]}, {"height", REAL(heights)[i]}};
        }
        sink.display(bundle, "", false);
    }
    std::error_code ignored;
    std::filesystem::remove_all(as_string(list_element(plots, "dir")), ignored);
}

struct ParseJob {
    SEXP text;
    ParseStatus status = PARSE_NULL;
};

} // namespace

EvalStatus CellEvaluator::execute(const std::string& code, OutputSink& sink) {
    ++evaluations_;
    if (!knit_request_.empty()) {
        std::string request = std::move(knit_request_);
        knit_request_.clear();
        return execute_knitted(code, request, sink);
    }
    RSession& session = RSession::get();
    SinkScope sink_scope(sink);
    RSession::ExecutionScope execution;
    ProtectScope protect;

    call_guarded(ripple_function(".begin_cell"), {});
    SEXP code_sexp = protect(Rf_mkString(code.c_str()));
    SEXP exprs = call_guarded(ripple_function(".parse_cell"), {code_sexp});
    if (exprs == nullptr || inherits(exprs, "ripple_error")) {
        if (exprs != nullptr) sink.error(error_from_record(exprs));
        else sink.error({"ParseError", "the cell could not be parsed", {}});
        return EvalStatus::Error;
    }
    protect(exprs);

    EvalStatus status = EvalStatus::Ok;
    std::optional<ErrorInfo> failure;
    std::optional<MimeBundle> last_result;
    SEXP eval_one = protect(ripple_function(".eval_one"));
    SEXP display_value = protect(ripple_function(".display_value"));
    R_xlen_t count = Rf_xlength(exprs);
    for (R_xlen_t i = 0; i < count && status == EvalStatus::Ok; ++i) {
        ProtectScope iteration;
        SEXP outcome = call_guarded(eval_one, {VECTOR_ELT(exprs, i)});
        if (outcome != nullptr) iteration(outcome);
        if (RSession::interrupt_requested() || inherits(outcome, "ripple_interrupt")) {
            status = EvalStatus::Interrupted;
            failure = interrupt_error();
        } else if (outcome == nullptr) {
            status = EvalStatus::Error;
            failure = ErrorInfo{"Error", "R stopped evaluating this cell unexpectedly", {}};
        } else if (inherits(outcome, "ripple_error")) {
            status = EvalStatus::Error;
            failure = error_from_record(outcome);
        } else if (as_bool(list_element(outcome, "visible"))) {
            SEXP shown = call_guarded(display_value, {list_element(outcome, "value")});
            session.flush_console();
            if (shown == nullptr || inherits(shown, "ripple_error")) {
                status = EvalStatus::Error;
                failure = shown ? error_from_record(shown) : ErrorInfo{"Error", "printing the value failed", {}};
            } else if (inherits(shown, "ripple_interrupt") || RSession::interrupt_requested()) {
                status = EvalStatus::Interrupted;
                failure = interrupt_error();
            } else if (shown != R_NilValue) {
                iteration(shown);
                std::string kind = as_string(list_element(shown, "kind"));
                if (kind == "page") {
                    MimeBundle page;
                    page.data = to_json(list_element(shown, "data"));
                    sink.page(page);
                } else if (i + 1 == count) {
                    last_result = bundle_from(shown);
                } else {
                    sink.display(bundle_from(shown), "", false);
                }
            }
        }
        session.flush_console();
    }

    SEXP plots = call_guarded(ripple_function(".end_cell"), {});
    if (plots != nullptr) protect(plots);
    session.flush_console();
    publish_plots(plots, sink);
    if (last_result) sink.result(*last_result);
    if (failure) sink.error(*failure);
    return status;
}

EvalStatus CellEvaluator::execute_knitted(const std::string& code, const std::string& request, OutputSink& sink) {
    RSession& session = RSession::get();
    SinkScope sink_scope(sink);
    RSession::ExecutionScope execution;
    ProtectScope protect;
    SEXP knitted = call_guarded(ripple_function(".knit_chunk"),
                                {protect(Rf_mkString(code.c_str())), protect(Rf_mkString(request.c_str()))});
    if (knitted != nullptr) protect(knitted);
    session.flush_console();
    if (RSession::interrupt_requested() || inherits(knitted, "ripple_interrupt")) {
        sink.error(interrupt_error());
        return EvalStatus::Interrupted;
    }
    if (knitted == nullptr || inherits(knitted, "ripple_error")) {
        sink.error(knitted ? error_from_record(knitted) : ErrorInfo{"Error", "knitr stopped unexpectedly", {}});
        return EvalStatus::Error;
    }
    MimeBundle chunk;
    chunk.data["text/markdown"] = as_string(list_element(knitted, "markdown"));
    chunk.data["application/vnd.ripple.knit+json"] = to_json(list_element(knitted, "knit"));
    sink.display(chunk, "", false);
    SEXP failure = list_element(knitted, "error");
    if (failure != nullptr && failure != R_NilValue) {
        sink.error(error_from_record(failure));
        return EvalStatus::Error;
    }
    return EvalStatus::Ok;
}

CodeCompleteness CellEvaluator::check_completeness(const std::string& code) {
    ProtectScope protect;
    ParseJob job{protect(Rf_mkString(code.c_str()))};
    Rboolean finished = R_ToplevelExec(
        [](void* data) {
            auto* parse = static_cast<ParseJob*>(data);
            R_ParseVector(parse->text, -1, &parse->status, R_NilValue);
        },
        &job);
    if (!finished) return CodeCompleteness::Invalid;
    switch (job.status) {
    case PARSE_OK:
    case PARSE_NULL: return CodeCompleteness::Complete;
    case PARSE_INCOMPLETE: return CodeCompleteness::Incomplete;
    default: return CodeCompleteness::Invalid;
    }
}

Completion CellEvaluator::complete(const std::string& code, int cursor_pos) {
    ++evaluations_;
    Completion completion;
    completion.cursor_start = completion.cursor_end = cursor_pos;
    ProtectScope protect;
    SEXP code_sexp = protect(Rf_mkString(code.c_str()));
    SEXP cursor_sexp = protect(Rf_ScalarInteger(cursor_pos));
    SEXP result = call_guarded(ripple_function(".complete"), {code_sexp, cursor_sexp});
    if (result == nullptr) return completion;
    protect(result);
    completion.matches = as_strings(list_element(result, "matches"));
    SEXP start = list_element(result, "start");
    if (TYPEOF(start) == INTSXP && Rf_xlength(start) == 1) completion.cursor_start = INTEGER(start)[0];
    return completion;
}

MimeBundle CellEvaluator::inspect(const std::string& code, int cursor_pos) {
    ++evaluations_;
    MimeBundle bundle;
    ProtectScope protect;
    SEXP code_sexp = protect(Rf_mkString(code.c_str()));
    SEXP cursor_sexp = protect(Rf_ScalarInteger(cursor_pos));
    SEXP result = call_guarded(ripple_function(".inspect"), {code_sexp, cursor_sexp});
    if (result == nullptr || result == R_NilValue || inherits(result, "ripple_error")) return bundle;
    bundle.data = to_json(result);
    if (!bundle.data.is_object()) bundle.data = nlohmann::json::object();
    return bundle;
}

} // namespace ripple::rbridge
