// cell_display.hpp: the outputs of one tracked cell as a single updatable Jupyter display (id "ripple-<cell id>"),
// published live while it runs and replaced in place when it reruns. Must not know about R headers or the engine.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <xeus/xinterpreter.hpp>

#include "rbridge/output_sink.hpp"

namespace ripple::kernel {

std::string display_id_for(const std::string& cell_id);

// Everything a cell printed, in order, as one display bundle: text/plain is exactly what R's console
// would show (streams, printed values, warnings, the error line); rich parts (tables, plots) add a
// text/html rendering. One display per cell means every rerun, failing or not, with more or fewer
// outputs than before, lands in place: front ends route updates only to display_data with that id.
class CellDisplay final : public rbridge::OutputSink {
public:
    // update_existing: the cell is being rerun, its display exists already (update_display_data);
    // otherwise this is the requested cell: its display_data goes out with its first output, or at
    // finish() if it printed nothing (so a later rerun that prints has a display to update).
    CellDisplay(xeus::xinterpreter& interpreter, std::string cell_id, bool update_existing, bool silent);

    void stream(rbridge::StreamName name, std::string_view text) override;
    void display(const rbridge::MimeBundle& bundle, const std::string& display_id, bool update) override;
    void result(const rbridge::MimeBundle& bundle) override;
    void error(const rbridge::ErrorInfo& error) override;
    void clear_output(bool wait) override;
    void page(const rbridge::MimeBundle& bundle) override;

    // Publishes the final state (call once the cell finished).
    void finish();
    // The bundle as last published (kept to re-show with a stale marker in lazy mode).
    rbridge::MimeBundle bundle() const;

    const std::optional<rbridge::ErrorInfo>& error_info() const { return error_; }
    const nl::json& payload() const { return payload_; }
    const std::string& result_text() const { return result_text_; }

private:
    struct Part {
        bool rich = false;
        std::string text;           // console text (plain parts) or the value's text (rich parts)
        rbridge::MimeBundle bundle; // rich parts only
    };
    void add_text(std::string_view text);
    void add_rich(const rbridge::MimeBundle& bundle);
    void publish();

    xeus::xinterpreter& interpreter_;
    std::string display_id_;
    bool silent_;
    bool live_; // the requested cell: its display follows the output as it comes
    bool published_ = false;
    rbridge::MimeBundle last_published_; // what the front end shows now (when published_ by us)
    std::vector<Part> parts_;
    std::size_t text_size_ = 0;
    std::optional<rbridge::ErrorInfo> error_;
    nl::json payload_ = nl::json::array();
    std::string result_text_;
};

// Builds a bundle from plain text and an optional note (e.g. lazy mode's stale marker).
rbridge::MimeBundle with_note(const rbridge::MimeBundle& bundle, const std::string& note);

} // namespace ripple::kernel
