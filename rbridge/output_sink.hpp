// output_sink.hpp: the plain C++ vocabulary in which rbridge reports what a cell produced.
// Must not know about Jupyter messages, ZeroMQ or the engine; front doors translate it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ripple::rbridge {

enum class StreamName { Stdout, Stderr };

// A rich representation of one value: mime type -> content, plus per-mime metadata.
struct MimeBundle {
    nlohmann::json data = nlohmann::json::object();
    nlohmann::json metadata = nlohmann::json::object();
};

// One R error, already formatted for people: class, message, call stack (outermost first).
struct ErrorInfo {
    std::string ename;
    std::string evalue;
    std::vector<std::string> traceback;
};

// Receives a cell's outputs in the order R produced them. Called on R's thread only.
class OutputSink {
public:
    virtual ~OutputSink() = default;
    virtual void stream(StreamName name, std::string_view text) = 0;
    // display_id is empty for anonymous displays; update=true replaces an earlier display.
    virtual void display(const MimeBundle& bundle, const std::string& display_id, bool update) = 0;
    // The last visible value of the cell.
    virtual void result(const MimeBundle& bundle) = 0;
    virtual void error(const ErrorInfo& error) = 0;
    virtual void clear_output(bool wait) = 0;
    // Help text and other pager content (Jupyter's "page" payload).
    virtual void page(const MimeBundle& bundle) = 0;
};

} // namespace ripple::rbridge
