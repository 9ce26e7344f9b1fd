// knitr_markdown.hpp: a chunk's source and outputs written as knitr writes Markdown (```r source, ``` output blocks
// with the "## " comment prefix, collapse, results, messages and warnings, figures). Pure C++: no R, no engine.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/cell_output.hpp"

namespace ripple::cli {

// How a chunk is shown (knitr's chunk options that do not change evaluation).
struct ChunkLook {
    enum class Results { Markup, Asis, Hide, Hold };
    bool echo = true;
    bool include = true;
    Results results = Results::Markup;
    bool message = true;
    bool warning = true;
    bool collapse = false;
    std::optional<std::string> comment = std::string("##"); // nullopt or "": no prefix
    std::string fig_cap;
    bool show_figures = true; // fig.show != "hide"
};

// What R wrote on stderr, told apart as knitr does: messages and warnings ("Warning in f(): text").
struct ConsoleNote {
    enum class Kind { Message, Warning };
    Kind kind = Kind::Message;
    std::string text; // knitr's wording, without the comment prefix; ends with a newline
};
std::vector<ConsoleNote> split_stderr(const std::string& text);

// "Error in f() : boom" (R's console) -> "Error in f(): boom" (knitr's).
std::string knitr_error_text(const CellOutput& error);

// Each line of `text` prefixed with "<comment> " (knitr's comment_out); trailing blank lines collapse to one newline.
std::string comment_out(const std::string& text, const std::optional<std::string>& comment);

// True for outputs that are figures (image/png or image/svg+xml displays).
bool is_figure(const CellOutput& output);

// The Markdown of one chunk. `figure_links` are the relative paths of its figures, in the order they appear in
// `outputs`. Returns "" for include=FALSE. Blocks are separated by blank lines; the result ends with "\n".
std::string chunk_markdown(const std::string& source, const std::vector<CellOutput>& outputs,
                           const std::vector<std::string>& figure_links, const ChunkLook& look);

} // namespace ripple::cli
