// rmd_document.cpp: line-based R Markdown reader (knitr's chunk patterns), chunk header option splitting, #| options
// and inline code. Pure C++: must not know about R or the engine; option values stay R code for the renderer.
#include "cli/rmd_document.hpp"

#include <map>
#include <regex>

#include "cli/plain_text.hpp"
#include "cli/r_literal.hpp"
#include "cli/yaml_header.hpp"

namespace ripple::cli {

using Json = nlohmann::ordered_json;

namespace {

std::string without_newline(std::string line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    return line;
}

// Splits "a, b=c(1, 2), d='x,y'" at the commas that are outside quotes and brackets.
std::vector<std::string> split_top_level(const std::string& text) {
    std::vector<std::string> parts;
    std::string current;
    int depth = 0;
    char quote = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quote) {
            current.push_back(c);
            if (c == '\\' && i + 1 < text.size()) current.push_back(text[++i]);
            else if (c == quote) quote = 0;
            continue;
        }
        if (c == '"' || c == '\'' || c == '`') quote = c;
        else if (c == '(' || c == '[' || c == '{') ++depth;
        else if (c == ')' || c == ']' || c == '}') --depth;
        if (c == ',' && depth == 0) {
            parts.push_back(current);
            current.clear();
            continue;
        }
        current.push_back(c);
    }
    parts.push_back(current);
    return parts;
}

// The `=` of `name = value` (not ==, <=, >=, !=), outside quotes and brackets.
std::optional<size_t> assignment_at(const std::string& text) {
    int depth = 0;
    char quote = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quote) {
            if (c == '\\') ++i;
            else if (c == quote) quote = 0;
            continue;
        }
        if (c == '"' || c == '\'' || c == '`') quote = c;
        else if (c == '(' || c == '[' || c == '{') ++depth;
        else if (c == ')' || c == ']' || c == '}') --depth;
        else if (c == '=' && depth == 0) {
            bool compare = (i + 1 < text.size() && text[i + 1] == '=') ||
                           (i > 0 && std::string("=<>!").find(text[i - 1]) != std::string::npos);
            if (!compare) return i;
            if (i + 1 < text.size() && text[i + 1] == '=') ++i;
        }
    }
    return std::nullopt;
}

std::string unquote(const std::string& text) {
    if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') && text.back() == text.front()) {
        return text.substr(1, text.size() - 2);
    }
    return text;
}

void parse_chunk_header(Chunk& chunk, const std::string& rest, const std::string& where) {
    static const std::regex option_name(R"([A-Za-z_.][A-Za-z0-9_.]*)");
    std::vector<std::string> parts = split_top_level(rest);
    for (size_t i = 0; i < parts.size(); ++i) {
        std::string part = trim(parts[i]);
        if (part.empty()) continue;
        auto equals = assignment_at(part);
        if (!equals) {
            if (i == 0 && !chunk.named) {
                chunk.label = unquote(part);
                chunk.named = true;
                continue;
            }
            throw RmdError(where + ": the chunk option \"" + part + "\" is not name=value.");
        }
        std::string name = trim(part.substr(0, *equals));
        std::string code = trim(part.substr(*equals + 1));
        if (!std::regex_match(name, option_name)) {
            throw RmdError(where + ": \"" + name + "\" is not a chunk option name.");
        }
        if (code.empty()) throw RmdError(where + ": the chunk option " + name + " has no value.");
        if (name == "label") {
            chunk.label = unquote(code);
            chunk.named = true;
            continue;
        }
        chunk.options.push_back({name, code});
    }
}

// `#| name: value` lines at the top of a chunk body (knitr 1.35+, Quarto); they are not shown with the code.
void take_pipe_options(Chunk& chunk, std::vector<std::string>& body, size_t body_line, const std::string& name) {
    std::string yaml;
    size_t count = 0;
    while (count < body.size() && body[count].rfind("#|", 0) == 0) {
        std::string line = without_newline(body[count]).substr(2);
        if (!line.empty() && line[0] == ' ') line.erase(0, 1);
        yaml += line + "\n";
        ++count;
    }
    if (count == 0) return;
    Json options;
    try {
        options = parse_yaml(yaml, body_line);
    } catch (const YamlError& e) {
        throw RmdError(name + " line " + std::to_string(e.line()) +
                       ": the #| chunk options are malformed: " + e.what() + ".");
    }
    if (!options.is_object()) {
        throw RmdError(name + " line " + std::to_string(body_line) +
                       ": #| chunk options must be \"name: value\" lines.");
    }
    for (const auto& [key, value] : options.items()) {
        std::string option = key;
        for (char& c : option) {
            if (c == '-') c = '.';
        }
        if (option == "label") {
            chunk.label = value.is_string() ? value.get<std::string>() : value.dump();
            chunk.named = true;
            continue;
        }
        chunk.options.push_back({option, r_code_for(value)});
    }
    body.erase(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(count));
}

} // namespace

RmdDocument parse_rmd(const std::string& text, const std::string& name) {
    static const std::regex chunk_begin(R"(^([\t >]*)(```+)\s*\{([a-zA-Z0-9_]+)(.*)\}\s*$)");
    static const std::regex chunk_end(R"(^[\t >]*(```+)\s*$)");
    RmdDocument doc;
    std::vector<std::string> lines = split_lines(text, true);
    size_t at = 0;

    // The YAML header: the first non-blank line is ---, up to the next --- or ... line.
    size_t first = 0;
    while (first < lines.size() && trim(lines[first]).empty()) ++first;
    if (first < lines.size() && without_newline(lines[first]) == "---") {
        size_t close = first + 1;
        while (close < lines.size() && without_newline(lines[close]) != "---" && without_newline(lines[close]) != "...")
            ++close;
        if (close >= lines.size()) {
            throw RmdError(name + " line " + std::to_string(first + 1) +
                           ": the YAML header is never closed (add a line with --- after it).");
        }
        std::string yaml;
        for (size_t i = first + 1; i < close; ++i) yaml += lines[i];
        try {
            doc.header = parse_yaml(yaml, first + 2);
        } catch (const YamlError& e) {
            throw RmdError(name + " line " + std::to_string(e.line()) + ": the YAML header is malformed: " + e.what() +
                           ".");
        }
        if (doc.header.is_null()) doc.header = Json::object();
        if (!doc.header.is_object()) {
            throw RmdError(name + " line " + std::to_string(first + 2) +
                           ": the YAML header must be \"key: value\" lines.");
        }
        doc.has_header = true;
        doc.header_line = first + 1;
        at = close + 1;
    }

    std::map<std::string, size_t> labels;
    std::map<std::string, std::string> code_of; // label -> code, for chunks that reuse it
    size_t chunk_count = 0;
    TextBlock text_block;
    text_block.line = at + 1;
    auto flush_text = [&](size_t next_line) {
        if (!text_block.text.empty()) doc.blocks.emplace_back(text_block);
        text_block = TextBlock{};
        text_block.line = next_line;
    };
    while (at < lines.size()) {
        std::string line = without_newline(lines[at]);
        std::smatch begin;
        if (!std::regex_match(line, begin, chunk_begin)) {
            text_block.text += lines[at];
            ++at;
            continue;
        }
        flush_text(at + 1);
        Chunk chunk;
        chunk.line = at + 1;
        chunk.indent = begin[1];
        chunk.fence = begin[2];
        chunk.engine = begin[3];
        for (char& c : chunk.engine) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        chunk.header = chunk.engine + std::string(begin[4]);
        std::string where = name + " line " + std::to_string(chunk.line);
        std::string rest = begin[4];
        if (!rest.empty() && rest[0] == ',') rest.erase(0, 1);
        else if (!rest.empty() && rest[0] != ' ' && rest[0] != '\t') {
            throw RmdError(where + ": the chunk header {" + chunk.header +
                           "} needs a space or a comma after the engine name.");
        }
        parse_chunk_header(chunk, rest, where);
        if (!chunk.named) ++chunk_count; // knitr numbers the unnamed chunks only
        std::vector<std::string> body;
        size_t close = at + 1;
        for (; close < lines.size(); ++close) {
            std::string body_line = without_newline(lines[close]);
            std::smatch end;
            if (std::regex_match(body_line, end, chunk_end) && end[1].length() >= static_cast<long>(chunk.fence.size()))
                break;
            if (std::regex_match(body_line, chunk_begin)) {
                throw RmdError(where + ": the chunk {" + chunk.header +
                               "} is not closed before the next chunk starts on line " + std::to_string(close + 1) +
                               " (add a line with " + chunk.fence + " after its code).");
            }
            body.push_back(lines[close]);
        }
        if (close >= lines.size()) {
            throw RmdError(where + ": the chunk {" + chunk.header + "} is never closed (add a line with " +
                           chunk.fence + " after its code).");
        }
        take_pipe_options(chunk, body, at + 2, name);
        for (const auto& body_line : body) chunk.code += body_line;
        if (!chunk.named) chunk.label = "unnamed-chunk-" + std::to_string(chunk_count);
        if (chunk.label.empty()) throw RmdError(where + ": the chunk label is empty.");
        bool empty = chunk.code.find_first_not_of(" \t\r\n") == std::string::npos;
        if (auto earlier = code_of.find(chunk.label); earlier != code_of.end() && empty && chunk.named) {
            chunk.code = earlier->second; // knitr's code reuse: an empty chunk named like an earlier one
            chunk.reuses_code = true;
        } else if (auto seen = labels.find(chunk.label); seen != labels.end()) {
            throw RmdError(where + ": the chunk label \"" + chunk.label + "\" is already used by the chunk on line " +
                           std::to_string(seen->second) + " (labels must be unique).");
        }
        if (!chunk.reuses_code) {
            labels[chunk.label] = chunk.line;
            code_of[chunk.label] = chunk.code;
        }
        doc.blocks.emplace_back(std::move(chunk));
        at = close + 1;
        text_block.line = at + 1;
    }
    flush_text(at + 1);
    return doc;
}

std::vector<InlineCode> find_inline_code(const std::string& text) {
    static const std::regex inline_r(R"(`r[ #]([^`]+)\s*`)");
    std::vector<InlineCode> found;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), inline_r); it != std::sregex_iterator(); ++it) {
        const std::smatch& match = *it;
        found.push_back(
            {static_cast<size_t>(match.position(0)), static_cast<size_t>(match.length(0)), trim(match[1].str())});
    }
    return found;
}

std::optional<std::string> option_code(const Chunk& chunk, const std::string& name) {
    std::optional<std::string> code;
    for (const auto& option : chunk.options) {
        if (option.name == name) code = option.code;
    }
    return code;
}

} // namespace ripple::cli
