// knitr_markdown.cpp: knitr's Markdown output hooks (source, output, message, warning, error, plot) re-created for
// the engine's outputs. Pure C++: must not know about R or the engine.
#include "cli/knitr_markdown.hpp"

#include "cli/plain_text.hpp"

namespace ripple::cli {

namespace {

std::string with_newline(std::string text) {
    if (!text.empty() && text.back() != '\n') text.push_back('\n');
    return text;
}

// "In log(-1) : NaNs produced" -> "Warning in log(-1): NaNs produced"; "careful" -> "Warning: careful".
std::string knitr_warning(const std::string& line) {
    if (line.rfind("In ", 0) == 0) {
        size_t colon = line.find(" : ");
        if (colon != std::string::npos)
            return "Warning in " + line.substr(3, colon - 3) + ": " + line.substr(colon + 3);
    }
    return "Warning: " + line;
}

// A piece of a chunk's Markdown before blocks are joined.
struct Piece {
    enum class Kind { Source, Output, Raw, Figure };
    Kind kind;
    std::string text;
};

} // namespace

std::vector<ConsoleNote> split_stderr(const std::string& text) {
    std::vector<ConsoleNote> notes;
    std::vector<std::string> lines = split_lines(text, false);
    std::string message;
    auto flush_message = [&] {
        if (!message.empty()) notes.push_back({ConsoleNote::Kind::Message, message});
        message.clear();
    };
    for (size_t i = 0; i < lines.size(); ++i) {
        if (lines[i] == "Warning message:" && i + 1 < lines.size()) {
            flush_message();
            notes.push_back({ConsoleNote::Kind::Warning, knitr_warning(lines[i + 1]) + "\n"});
            ++i;
            continue;
        }
        message += lines[i] + "\n";
    }
    flush_message();
    return notes;
}

std::string knitr_error_text(const CellOutput& error) {
    std::string line = error.traceback.empty() ? "Error: " + error.evalue : error.traceback.front();
    if (line.rfind("Error in ", 0) == 0) {
        size_t colon = line.find(" : ");
        if (colon != std::string::npos) line = line.substr(0, colon) + ": " + line.substr(colon + 3);
    }
    return with_newline(line);
}

std::string comment_out(const std::string& text, const std::optional<std::string>& comment) {
    std::string body = text;
    while (body.size() >= 2 && body[body.size() - 1] == '\n' && body[body.size() - 2] == '\n') body.pop_back();
    if (!comment || comment->empty()) return with_newline(body);
    std::string out;
    for (const auto& line : split_lines(body, false)) out += *comment + " " + line + "\n";
    return out;
}

bool is_figure(const CellOutput& output) {
    if (output.kind != CellOutput::Kind::Display && output.kind != CellOutput::Kind::Result) return false;
    return output.data.contains("image/png") || output.data.contains("image/svg+xml");
}

std::string chunk_markdown(const std::string& source, const std::vector<CellOutput>& outputs,
                           const std::vector<std::string>& figure_links, const ChunkLook& look) {
    if (!look.include) return "";
    std::vector<Piece> pieces;
    auto add_output = [&](const std::string& text) {
        if (text.empty()) return;
        std::string commented = comment_out(text, look.comment);
        if (!pieces.empty() && pieces.back().kind == Piece::Kind::Output) pieces.back().text += commented;
        else pieces.push_back({Piece::Kind::Output, commented});
    };
    auto add_raw = [&](const std::string& text) {
        if (text.empty()) return;
        if (!pieces.empty() && pieces.back().kind == Piece::Kind::Raw) pieces.back().text += text;
        else pieces.push_back({Piece::Kind::Raw, text});
    };
    if (look.echo && source.find_first_not_of(" \t\r\n") != std::string::npos) {
        pieces.push_back({Piece::Kind::Source, with_newline(source)});
    }
    // stderr is read as a whole run (a warning's lines may come in two pieces); stdout stays in pieces, each about one
    // expression's output, whose trailing blank lines knitr drops.
    std::vector<CellOutput> merged;
    for (const auto& output : outputs) {
        if (output.kind == CellOutput::Kind::Stream && output.stream == "stderr" && !merged.empty() &&
            merged.back().kind == CellOutput::Kind::Stream && merged.back().stream == "stderr") {
            merged.back().text += output.text;
        } else {
            merged.push_back(output);
        }
    }
    size_t figure = 0;
    std::vector<Piece> held; // results = "hold": text outputs go after everything else
    for (const auto& output : merged) {
        if (is_figure(output)) {
            std::string link = figure < figure_links.size() ? figure_links[figure] : "";
            ++figure;
            if (look.show_figures && !link.empty())
                pieces.push_back({Piece::Kind::Figure, "![" + look.fig_cap + "](" + link + ")\n"});
            continue;
        }
        std::string text;
        bool is_result_text = false;
        switch (output.kind) {
        case CellOutput::Kind::Stream:
            if (output.stream == "stderr") {
                for (const auto& note : split_stderr(output.text)) {
                    if (note.kind == ConsoleNote::Kind::Message && !look.message) continue;
                    if (note.kind == ConsoleNote::Kind::Warning && !look.warning) continue;
                    add_output(note.text);
                }
                continue;
            }
            text = output.text;
            is_result_text = true;
            break;
        case CellOutput::Kind::Display:
        case CellOutput::Kind::Result:
            if (look.results == ChunkLook::Results::Asis && output.data.contains("text/markdown") &&
                output.data["text/markdown"].is_string()) {
                text = output.data["text/markdown"].get<std::string>();
            } else if (output.data.contains("text/plain") && output.data["text/plain"].is_string()) {
                text = with_newline(output.data["text/plain"].get<std::string>());
            }
            is_result_text = true;
            break;
        case CellOutput::Kind::Error: add_output(knitr_error_text(output)); continue;
        }
        if (!is_result_text || text.empty()) continue;
        switch (look.results) {
        case ChunkLook::Results::Hide: break;
        case ChunkLook::Results::Asis: add_raw(text); break;
        case ChunkLook::Results::Hold: held.push_back({Piece::Kind::Output, comment_out(text, look.comment)}); break;
        case ChunkLook::Results::Markup: add_output(text); break;
        }
    }
    for (auto& piece : held) {
        if (!pieces.empty() && pieces.back().kind == Piece::Kind::Output) pieces.back().text += piece.text;
        else pieces.push_back(std::move(piece));
    }

    std::string markdown;
    auto block = [&](const std::string& text) { markdown += (markdown.empty() ? "" : "\n") + text; };
    for (size_t i = 0; i < pieces.size(); ++i) {
        const Piece& piece = pieces[i];
        if (look.collapse && (piece.kind == Piece::Kind::Source || piece.kind == Piece::Kind::Output)) {
            // Source and output up to the next figure or raw text share one ```r block.
            std::string joined;
            while (i < pieces.size() &&
                   (pieces[i].kind == Piece::Kind::Source || pieces[i].kind == Piece::Kind::Output)) {
                joined += pieces[i].text;
                ++i;
            }
            --i;
            block("```r\n" + joined + "```\n");
            continue;
        }
        switch (piece.kind) {
        case Piece::Kind::Source: block("```r\n" + piece.text + "```\n"); break;
        case Piece::Kind::Output: block("```\n" + piece.text + "```\n"); break;
        case Piece::Kind::Raw: block(with_newline(piece.text)); break;
        case Piece::Kind::Figure: block(piece.text); break;
        }
    }
    return markdown;
}

} // namespace ripple::cli
