// output_record.cpp: records sink events as JSON and replays them; validates before replaying anything.
// Must not know about Jupyter or the store.
#include "output_record.hpp"

namespace ripple::rbridge {

namespace {

nlohmann::json bundle_json(const MimeBundle& bundle) { return {{"data", bundle.data}, {"metadata", bundle.metadata}}; }

bool is_bundle(const nlohmann::json& value) {
    return value.is_object() && value.contains("data") && value["data"].is_object() && value.contains("metadata") &&
           value["metadata"].is_object();
}

MimeBundle bundle_of(const nlohmann::json& value) { return MimeBundle{value["data"], value["metadata"]}; }

bool is_event(const nlohmann::json& event) {
    if (!event.is_object() || event.size() == 0) return false;
    if (event.contains("stream")) {
        return event["stream"].is_string() && (event["stream"] == "stdout" || event["stream"] == "stderr") &&
               event.contains("text") && event["text"].is_string();
    }
    if (event.contains("display")) {
        return is_bundle(event["display"]) && event.contains("display_id") && event["display_id"].is_string() &&
               event.contains("update") && event["update"].is_boolean();
    }
    if (event.contains("result")) return is_bundle(event["result"]);
    if (event.contains("page")) return is_bundle(event["page"]);
    if (event.contains("clear")) return event["clear"].is_boolean();
    if (event.contains("error")) {
        const auto& error = event["error"];
        if (!error.is_object() || !error.contains("ename") || !error["ename"].is_string() ||
            !error.contains("evalue") || !error["evalue"].is_string() || !error.contains("traceback") ||
            !error["traceback"].is_array()) {
            return false;
        }
        for (const auto& line : error["traceback"]) {
            if (!line.is_string()) return false;
        }
        return true;
    }
    return false;
}

} // namespace

void RecordingSink::stream(StreamName name, std::string_view text) {
    events_.push_back({{"stream", name == StreamName::Stdout ? "stdout" : "stderr"}, {"text", std::string(text)}});
    inner_.stream(name, text);
}

void RecordingSink::display(const MimeBundle& bundle, const std::string& display_id, bool update) {
    events_.push_back({{"display", bundle_json(bundle)}, {"display_id", display_id}, {"update", update}});
    inner_.display(bundle, display_id, update);
}

void RecordingSink::result(const MimeBundle& bundle) {
    events_.push_back({{"result", bundle_json(bundle)}});
    inner_.result(bundle);
}

void RecordingSink::error(const ErrorInfo& error) {
    events_.push_back({{"error", {{"ename", error.ename}, {"evalue", error.evalue}, {"traceback", error.traceback}}}});
    inner_.error(error);
}

void RecordingSink::clear_output(bool wait) {
    events_.push_back({{"clear", wait}});
    inner_.clear_output(wait);
}

void RecordingSink::page(const MimeBundle& bundle) {
    events_.push_back({{"page", bundle_json(bundle)}});
    inner_.page(bundle);
}

bool replay(const nlohmann::json& events, OutputSink& sink) {
    if (!events.is_array()) return false;
    for (const auto& event : events) {
        if (!is_event(event)) return false;
    }
    for (const auto& event : events) {
        if (event.contains("stream")) {
            sink.stream(event["stream"] == "stdout" ? StreamName::Stdout : StreamName::Stderr,
                        event["text"].get<std::string>());
        } else if (event.contains("display")) {
            sink.display(bundle_of(event["display"]), event["display_id"], event["update"]);
        } else if (event.contains("result")) {
            sink.result(bundle_of(event["result"]));
        } else if (event.contains("page")) {
            sink.page(bundle_of(event["page"]));
        } else if (event.contains("clear")) {
            sink.clear_output(event["clear"]);
        } else {
            const auto& error = event["error"];
            sink.error(ErrorInfo{error["ename"], error["evalue"], error["traceback"].get<std::vector<std::string>>()});
        }
    }
    return true;
}

} // namespace ripple::rbridge
