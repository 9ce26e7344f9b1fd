// cell_display.cpp: composes a tracked cell's outputs into one display bundle and publishes it with its
// display id. Must not know about R headers or the engine.
#include "cell_display.hpp"

namespace ripple::kernel {

namespace {

// Live updates resend the whole composite; past this size only the final state is published.
constexpr std::size_t kLiveLimit = 256 * 1024;

std::string html_escape(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        default: out.push_back(c);
        }
    }
    return out;
}

bool is_image(const rbridge::MimeBundle& bundle) {
    return bundle.data.contains("image/png") || bundle.data.contains("image/svg+xml") ||
           bundle.data.contains("image/jpeg");
}

std::string plain_text(const rbridge::MimeBundle& bundle) {
    auto found = bundle.data.find("text/plain");
    return found != bundle.data.end() && found->is_string() ? found->get<std::string>() : std::string();
}

std::string html_of(const rbridge::MimeBundle& bundle) {
    const nl::json& data = bundle.data;
    if (data.contains("text/html") && data["text/html"].is_string()) return data["text/html"].get<std::string>();
    if (data.contains("image/png") && data["image/png"].is_string()) {
        return "<img src=\"data:image/png;base64," + data["image/png"].get<std::string>() + "\"/>";
    }
    if (data.contains("image/jpeg") && data["image/jpeg"].is_string()) {
        return "<img src=\"data:image/jpeg;base64," + data["image/jpeg"].get<std::string>() + "\"/>";
    }
    if (data.contains("image/svg+xml") && data["image/svg+xml"].is_string()) {
        return data["image/svg+xml"].get<std::string>();
    }
    return "<pre>" + html_escape(plain_text(bundle)) + "</pre>";
}

} // namespace

std::string display_id_for(const std::string& cell_id) { return "ripple-" + cell_id; }

CellDisplay::CellDisplay(xeus::xinterpreter& interpreter, std::string cell_id, bool update_existing, bool silent)
        : interpreter_(interpreter), display_id_(display_id_for(cell_id)), silent_(silent), live_(!update_existing),
          published_(update_existing) {}

void CellDisplay::add_text(std::string_view text) {
    if (text.empty()) return;
    if (parts_.empty() || parts_.back().rich) parts_.push_back(Part{});
    parts_.back().text.append(text);
    text_size_ += text.size();
}

void CellDisplay::add_rich(const rbridge::MimeBundle& bundle) {
    bool has_rich = false;
    for (const auto& [mime, value] : bundle.data.items()) {
        if (mime != "text/plain") has_rich = true;
    }
    // A value shows in R's console as its printed text; a plot shows nothing there.
    std::string text = is_image(bundle) ? std::string() : plain_text(bundle);
    if (!text.empty()) text.push_back('\n');
    if (!has_rich) {
        add_text(text);
        return;
    }
    parts_.push_back(Part{true, text, bundle});
    text_size_ += text.size();
}

void CellDisplay::stream(rbridge::StreamName, std::string_view text) {
    add_text(text);
    if (live_ && text_size_ <= kLiveLimit) publish();
}

void CellDisplay::display(const rbridge::MimeBundle& bundle, const std::string& display_id, bool update) {
    if (!display_id.empty()) {
        // The user's own display ids (display(..., display_id=)) keep their meaning.
        if (silent_) return;
        nl::json transient = {{"display_id", display_id}};
        if (update) interpreter_.update_display_data(bundle.data, bundle.metadata, transient);
        else interpreter_.display_data(bundle.data, bundle.metadata, transient);
        return;
    }
    add_rich(bundle);
    if (live_) publish();
}

void CellDisplay::result(const rbridge::MimeBundle& bundle) {
    result_text_ = plain_text(bundle);
    add_rich(bundle);
}

void CellDisplay::error(const rbridge::ErrorInfo& error) {
    error_ = error;
    add_text((error.traceback.empty() ? "Error: " + error.evalue : error.traceback.front()) + "\n");
}

void CellDisplay::clear_output(bool) {
    parts_.clear();
    text_size_ = 0;
    if (live_) publish();
}

void CellDisplay::page(const rbridge::MimeBundle& bundle) {
    payload_.push_back({{"source", "page"}, {"data", bundle.data}, {"start", 0}});
}

rbridge::MimeBundle CellDisplay::bundle() const {
    rbridge::MimeBundle bundle;
    std::string text;
    std::size_t rich_count = 0;
    const Part* only_rich = nullptr;
    for (const auto& part : parts_) {
        text += part.text;
        if (part.rich) {
            ++rich_count;
            only_rich = &part;
        }
    }
    if (rich_count == 1 && parts_.size() == 1) {
        // A single table or plot: its own bundle, so front ends pick its best representation.
        bundle = only_rich->bundle;
        bundle.data["text/plain"] = text;
        return bundle;
    }
    bundle.data["text/plain"] = text;
    if (rich_count > 0) {
        std::string html;
        for (const auto& part : parts_) {
            html += part.rich ? html_of(part.bundle) : "<pre>" + html_escape(part.text) + "</pre>";
        }
        bundle.data["text/html"] = html;
    }
    return bundle;
}

void CellDisplay::publish() {
    if (silent_) return;
    rbridge::MimeBundle current = bundle();
    // Every message costs the front end a round of work: resend only what changed.
    if (published_ && current.data == last_published_.data && current.metadata == last_published_.metadata) return;
    nl::json transient = {{"display_id", display_id_}};
    if (!published_) {
        interpreter_.display_data(current.data, current.metadata, transient);
        published_ = true;
    } else {
        interpreter_.update_display_data(current.data, current.metadata, transient);
    }
    last_published_ = std::move(current);
}

// A rerun's display exists already and what it showed is not known here: last_published_ is empty, and
// every bundle has text/plain, so the rerun's state is always sent.
void CellDisplay::finish() { publish(); }

rbridge::MimeBundle with_note(const rbridge::MimeBundle& bundle, const std::string& note) {
    rbridge::MimeBundle noted = bundle;
    std::string text = plain_text(bundle);
    noted.data["text/plain"] = text + note + "\n";
    // Front ends show the richest part: a plot alone would hide a note kept in text/plain only.
    bool rich = false;
    for (const auto& [mime, value] : bundle.data.items()) rich = rich || mime != "text/plain";
    if (rich) {
        noted.data["text/html"] = html_of(bundle) + "<div style=\"color:#b26b00\">" + html_escape(note) + "</div>";
    }
    return noted;
}

} // namespace ripple::kernel
