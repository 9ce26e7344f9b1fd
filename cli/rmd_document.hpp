// rmd_document.hpp: an R Markdown document split into its YAML header, text and ```{engine label, options} chunks,
// with chunk options (header and #| lines) and inline `r code`. Pure C++: must not know about R or the engine.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace ripple::cli {

// The document cannot be rendered: one sentence naming the file and line.
class RmdError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One chunk option as written: its R code (from `name=code` in the header or `#| name: value` in the body).
struct ChunkOption {
    std::string name;
    std::string code;
};

struct Chunk {
    size_t line = 0;    // the opening ``` line (1-based)
    std::string engine; // "r", "python", ... (lower case)
    std::string label;  // as written, or "unnamed-chunk-N" (N counts all chunks, as knitr does)
    bool named = false;
    std::vector<ChunkOption> options; // header options, then #| options (a later one wins)
    std::string code;                 // the body without #| option lines
    std::string fence;                // the opening fence as written (``` or more backticks)
    std::string header;               // the text between { and }
    std::string indent;               // what precedes the fence (a chunk in a list item: spaces; in a quote: "> ")
    bool reuses_code = false;         // an empty chunk with an earlier chunk's label: knitr runs that chunk's code
};

struct TextBlock {
    size_t line = 0;  // first line of the text
    std::string text; // verbatim, including its final newline
};

struct RmdDocument {
    bool has_header = false;
    size_t header_line = 0;                  // line of the opening ---
    nlohmann::ordered_json header = nullptr; // the parsed YAML header (a map), null without one
    std::vector<std::variant<TextBlock, Chunk>> blocks;
};

// Throws RmdError for an unclosed header or chunk, malformed YAML, bad chunk options or duplicate labels.
RmdDocument parse_rmd(const std::string& text, const std::string& name);

// `r code` in Markdown text, as knitr finds it: offset and length of the whole span, and the code.
struct InlineCode {
    size_t offset = 0;
    size_t length = 0;
    std::string code;
};
std::vector<InlineCode> find_inline_code(const std::string& text);

// The value of chunk option `name` (the last one given), or nullopt.
std::optional<std::string> option_code(const Chunk& chunk, const std::string& name);

} // namespace ripple::cli
