// output_record.hpp: a cell's outputs as data (an ordered JSON list of sink events) and back again, so a
// cached execution can be replayed in order without running R. Must not know about Jupyter or the store.
#pragma once

#include <nlohmann/json.hpp>

#include "output_sink.hpp"

namespace ripple::rbridge {

// Forwards every output to `inner` and keeps a copy of each event, in order.
class RecordingSink final : public OutputSink {
public:
    explicit RecordingSink(OutputSink& inner) : inner_(inner) {}

    void stream(StreamName name, std::string_view text) override;
    void display(const MimeBundle& bundle, const std::string& display_id, bool update) override;
    void result(const MimeBundle& bundle) override;
    void error(const ErrorInfo& error) override;
    void clear_output(bool wait) override;
    void page(const MimeBundle& bundle) override;

    // [{"stream": "stdout", "text": ...}, {"display": {"data", "metadata"}, "display_id", "update"},
    //  {"result": {...}}, {"error": {"ename", "evalue", "traceback"}}, {"clear": wait}, {"page": {...}}]
    const nlohmann::json& events() const { return events_; }

private:
    OutputSink& inner_;
    nlohmann::json events_ = nlohmann::json::array();
};

// Sends recorded events to `sink` in order. Returns false (sending nothing) if `events` is not a list of
// well-formed events, e.g. a damaged cache entry: the caller then treats it as a miss.
bool replay(const nlohmann::json& events, OutputSink& sink);

} // namespace ripple::rbridge
