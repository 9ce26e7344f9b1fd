// yaml_header.cpp: an indentation-driven reader for the subset of YAML found in R Markdown headers.
// Pure C++: must not know about R or knitr; it turns text into ordered JSON or a YamlError with a line.
#include "cli/yaml_header.hpp"

#include "cli/plain_text.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <regex>
#include <vector>

namespace ripple::cli {

using Json = nlohmann::ordered_json;

namespace {

struct Line {
    size_t number = 0;   // line in the file
    size_t indent = 0;   // leading spaces
    std::string content; // after the indent, comment removed, right-trimmed
    std::string raw;     // the whole line as written (block scalars keep it)
    bool blank = true;   // empty or only a comment
};

// Removes a `# comment` that is outside quotes and preceded by a space (or starts the text).
std::string strip_comment(const std::string& text) {
    char quote = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quote) {
            if (c == quote) {
                if (quote == '\'' && i + 1 < text.size() && text[i + 1] == '\'') ++i;
                else quote = 0;
            } else if (c == '\\' && quote == '"') {
                ++i;
            }
            continue;
        }
        if ((c == '"' || c == '\'') && (i == 0 || std::string(" \t[{,:-").find(text[i - 1]) != std::string::npos))
            quote = c;
        else if (c == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t')) return trim_end(text.substr(0, i));
    }
    return trim_end(text);
}

// Position of the `:` that ends a mapping key (followed by a space or the end), outside quotes and brackets.
std::optional<size_t> key_colon(const std::string& text) {
    char quote = 0;
    int depth = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quote) {
            if (c == quote) quote = 0;
            else if (c == '\\' && quote == '"') ++i;
            continue;
        }
        if ((c == '"' || c == '\'') && i == 0) quote = c;
        else if (c == '[' || c == '{') ++depth;
        else if (c == ']' || c == '}') --depth;
        else if (c == ':' && depth == 0 && (i + 1 == text.size() || text[i + 1] == ' ' || text[i + 1] == '\t'))
            return i;
        if (i == 0 && (c == '[' || c == '{')) return std::nullopt;
    }
    return std::nullopt;
}

bool is_sequence_item(const std::string& content) { return content == "-" || content.rfind("- ", 0) == 0; }

Json plain_scalar(const std::string& text) {
    static const std::regex integer(R"([-+]?[0-9]+)");
    static const std::regex real(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
    if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
    for (const char* word : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}) {
        if (text == word) return true;
    }
    for (const char* word : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}) {
        if (text == word) return false;
    }
    if (std::regex_match(text, integer) && text.size() < 16) return std::stoll(text);
    if (std::regex_match(text, real)) return std::strtod(text.c_str(), nullptr);
    if (text == ".inf" || text == ".Inf" || text == "+.inf") return HUGE_VAL;
    if (text == "-.inf" || text == "-.Inf") return -HUGE_VAL;
    return text;
}

// Reads inline values (quoted scalars, flow collections, plain scalars) from one logical line of text.
class InlineReader {
public:
    InlineReader(const std::string& text, size_t line) : text_(text), line_(line) {}

    Json read_document_value() {
        skip_space();
        Json value = read_value(false);
        skip_space();
        if (at_ != text_.size()) fail("unexpected text after the value: \"" + text_.substr(at_) + "\"");
        return value;
    }

private:
    [[noreturn]] void fail(const std::string& message) const { throw YamlError(line_, message); }
    void skip_space() {
        while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t')) ++at_;
    }

    Json read_value(bool in_flow) {
        skip_space();
        if (at_ >= text_.size()) return nullptr;
        char c = text_[at_];
        if (c == '"') return read_double_quoted();
        if (c == '\'') return read_single_quoted();
        if (c == '[') return read_flow_sequence();
        if (c == '{') return read_flow_mapping();
        if (c == '!') return read_tagged(in_flow);
        if (c == '&' || c == '*') fail("YAML anchors and aliases (& and *) are not supported in R Markdown headers");
        return plain_scalar(read_plain(in_flow));
    }

    std::string read_plain(bool in_flow) {
        size_t start = at_;
        while (at_ < text_.size()) {
            char c = text_[at_];
            if (in_flow && (c == ',' || c == ']' || c == '}')) break;
            if (in_flow && c == ':' && (at_ + 1 == text_.size() || text_[at_ + 1] == ' ')) break;
            ++at_;
        }
        return trim(text_.substr(start, at_ - start));
    }

    Json read_tagged(bool in_flow) {
        size_t start = at_;
        while (at_ < text_.size() && text_[at_] != ' ') ++at_;
        std::string tag = text_.substr(start, at_ - start);
        skip_space();
        if (tag == "!r" || tag == "!expr") {
            std::string code = in_flow ? read_plain(true) : trim(text_.substr(at_));
            if (!in_flow) at_ = text_.size();
            if (code.size() >= 2 && (code.front() == '"' || code.front() == '\'') && code.back() == code.front()) {
                code = code.substr(1, code.size() - 2);
            }
            if (code.empty()) fail(tag + " needs an R expression after it");
            return Json{{"!r", code}};
        }
        if (tag == "!!str") {
            Json value = read_value(in_flow);
            return value.is_string() ? value : Json(value.dump());
        }
        fail("the YAML tag " + tag + " is not supported (use !r for R code)");
    }

    Json read_double_quoted() {
        ++at_;
        std::string out;
        while (at_ < text_.size() && text_[at_] != '"') {
            char c = text_[at_++];
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (at_ >= text_.size()) break;
            char e = text_[at_++];
            switch (e) {
            case 'n': out.push_back('\n'); break;
            case 't': out.push_back('\t'); break;
            case 'r': out.push_back('\r'); break;
            case '0': out.push_back('\0'); break;
            case '"':
            case '\\':
            case '/':
            case ' ': out.push_back(e); break;
            case 'x':
            case 'u':
            case 'U': {
                size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                if (at_ + digits > text_.size())
                    fail("a \\" + std::string(1, e) + " escape needs " + std::to_string(digits) + " hex digits");
                std::string hex = text_.substr(at_, digits);
                for (char h : hex) {
                    if (!std::isxdigit(static_cast<unsigned char>(h)))
                        fail("\"\\" + std::string(1, e) + hex + "\" is not a valid escape");
                }
                append_utf8(out, std::strtoul(hex.c_str(), nullptr, 16));
                at_ += digits;
                break;
            }
            default: fail(std::string("\"\\") + e + "\" is not a valid escape in a double-quoted string");
            }
        }
        if (at_ >= text_.size()) fail("a double-quoted string is not closed");
        ++at_;
        return out;
    }

    Json read_single_quoted() {
        ++at_;
        std::string out;
        for (;;) {
            if (at_ >= text_.size()) fail("a single-quoted string is not closed");
            char c = text_[at_++];
            if (c == '\'') {
                if (at_ < text_.size() && text_[at_] == '\'') {
                    out.push_back('\'');
                    ++at_;
                    continue;
                }
                return out;
            }
            out.push_back(c);
        }
    }

    Json read_flow_sequence() {
        ++at_;
        Json items = Json::array();
        skip_space();
        if (at_ < text_.size() && text_[at_] == ']') {
            ++at_;
            return items;
        }
        for (;;) {
            items.push_back(read_value(true));
            skip_space();
            if (at_ >= text_.size()) fail("a [ list is not closed with ]");
            if (text_[at_] == ',') {
                ++at_;
                continue;
            }
            if (text_[at_] == ']') {
                ++at_;
                return items;
            }
            fail(std::string("unexpected \"") + text_[at_] + "\" in a [ list");
        }
    }

    Json read_flow_mapping() {
        ++at_;
        Json map = Json::object();
        skip_space();
        if (at_ < text_.size() && text_[at_] == '}') {
            ++at_;
            return map;
        }
        for (;;) {
            Json key = read_value(true);
            skip_space();
            if (at_ >= text_.size() || text_[at_] != ':') fail("a { map entry needs \"key: value\"");
            ++at_;
            Json value = read_value(true);
            std::string name = key.is_string() ? key.get<std::string>() : key.dump();
            if (map.contains(name)) fail("the key \"" + name + "\" appears twice");
            map[name] = value;
            skip_space();
            if (at_ >= text_.size()) fail("a { map is not closed with }");
            if (text_[at_] == ',') {
                ++at_;
                continue;
            }
            if (text_[at_] == '}') {
                ++at_;
                return map;
            }
            fail(std::string("unexpected \"") + text_[at_] + "\" in a { map");
        }
    }

    const std::string& text_;
    size_t line_;
    size_t at_ = 0;
};

class BlockReader {
public:
    explicit BlockReader(std::vector<Line> lines) : lines_(std::move(lines)) {}

    Json read_document() {
        skip_blank();
        if (done()) return nullptr;
        Json value = read_node(lines_[at_].indent);
        skip_blank();
        if (!done())
            fail(lines_[at_], "this line is indented less than the block it belongs to, or more than the one before");
        return value;
    }

private:
    [[noreturn]] static void fail(const Line& line, const std::string& message) {
        throw YamlError(line.number, message);
    }
    bool done() const { return at_ >= lines_.size(); }
    void skip_blank() {
        while (!done() && lines_[at_].blank) ++at_;
    }

    Json read_node(size_t indent) {
        const Line& line = lines_[at_];
        if (is_sequence_item(line.content)) return read_sequence(indent);
        if (key_colon(line.content)) return read_mapping(indent);
        return read_scalar_lines(indent, line.content, line.number);
    }

    // A value that starts on this line and may continue (quoted or plain) on more-indented lines.
    Json read_scalar_lines(size_t parent_indent, std::string text, size_t number) {
        ++at_;
        char open = text.empty() ? 0 : text[0];
        auto closed = [&](const std::string& t) {
            if (open == '"' || open == '\'') {
                try {
                    InlineReader(t, number).read_document_value();
                    return true;
                } catch (const YamlError&) {
                    return false;
                }
            }
            if (open == '[' || open == '{') {
                int depth = 0;
                for (char c : t) depth += (c == '[' || c == '{') - (c == ']' || c == '}');
                return depth <= 0;
            }
            return true;
        };
        while (true) {
            size_t next = at_;
            while (next < lines_.size() && lines_[next].blank) ++next;
            if (next >= lines_.size()) break;
            const Line& more = lines_[next];
            bool continues = (open == '"' || open == '\'' || open == '[' || open == '{') ? !closed(text)
                                                                                         : more.indent > parent_indent;
            if (!continues) break;
            if (open != '"' && open != '\'' && open != '[' && open != '{' && key_colon(more.content)) {
                fail(more,
                     "this line is indented like a continuation of the value above but looks like \"key: value\"");
            }
            text += " " + (open == '"' || open == '\'' ? trim(more.raw) : more.content);
            at_ = next + 1;
        }
        return InlineReader(text, number).read_document_value();
    }

    Json read_block_scalar(const std::string& header, size_t parent_indent, size_t number) {
        bool literal = header[0] == '|';
        char chomp = 0;
        for (char c : header.substr(1)) {
            if (c == '-' || c == '+') chomp = c;
            else if (!std::isdigit(static_cast<unsigned char>(c)))
                throw YamlError(number, "\"" + header + "\" is not a block scalar header");
        }
        std::vector<std::string> body;
        size_t block_indent = 0;
        while (!done()) {
            const Line& line = lines_[at_];
            bool empty = trim(line.raw).empty();
            if (!empty && line.indent <= parent_indent) break;
            if (!empty && block_indent == 0) block_indent = line.indent;
            body.push_back(empty ? "" : line.raw.substr(std::min(block_indent, line.indent)));
            ++at_;
        }
        while (!body.empty() && body.back().empty() && chomp != '+') body.pop_back();
        std::string text;
        for (size_t i = 0; i < body.size(); ++i) {
            if (i > 0) text += literal || body[i].empty() || body[i - 1].empty() ? "\n" : " ";
            text += body[i];
        }
        if (chomp != '-' && !body.empty()) text += "\n";
        return text;
    }

    Json read_mapping(size_t indent) {
        Json map = Json::object();
        while (true) {
            skip_blank();
            if (done()) break;
            const Line& line = lines_[at_];
            if (line.indent < indent) break;
            if (line.indent > indent) fail(line, "this line is indented more than the key above it");
            if (is_sequence_item(line.content))
                fail(line, "a list item (\"- \") appears where a \"key: value\" was expected");
            auto colon = key_colon(line.content);
            if (!colon) fail(line, "expected \"key: value\", found \"" + line.content + "\"");
            Json key = InlineReader(trim(line.content.substr(0, *colon)), line.number).read_document_value();
            std::string name = key.is_string() ? key.get<std::string>() : key.is_null() ? "" : key.dump();
            if (name.empty()) fail(line, "a key is empty");
            if (map.contains(name)) fail(line, "the key \"" + name + "\" appears twice");
            std::string rest = trim(line.content.substr(*colon + 1));
            size_t number = line.number;
            if (rest.empty()) {
                ++at_;
                skip_blank();
                if (!done() && (lines_[at_].indent > indent ||
                                (lines_[at_].indent == indent && is_sequence_item(lines_[at_].content)))) {
                    map[name] = read_node(lines_[at_].indent);
                } else {
                    map[name] = nullptr;
                }
            } else if (rest[0] == '|' || rest[0] == '>') {
                ++at_;
                map[name] = read_block_scalar(rest, indent, number);
            } else {
                map[name] = read_scalar_lines(indent, rest, number);
            }
        }
        return map;
    }

    Json read_sequence(size_t indent) {
        Json items = Json::array();
        while (true) {
            skip_blank();
            if (done()) break;
            Line& line = lines_[at_];
            if (line.indent < indent) break;
            if (line.indent > indent) fail(line, "this line is indented more than the list item above it");
            if (!is_sequence_item(line.content)) break;
            std::string rest = line.content.substr(1);
            size_t spaces = rest.find_first_not_of(' ');
            if (spaces == std::string::npos) {
                ++at_;
                skip_blank();
                if (!done() && lines_[at_].indent > indent) items.push_back(read_node(lines_[at_].indent));
                else items.push_back(nullptr);
                continue;
            }
            // "- key: value": the item's content becomes a line of its own, indented where its text starts.
            line.indent = indent + 1 + spaces;
            line.content = rest.substr(spaces);
            if (line.content[0] == '|' || line.content[0] == '>') {
                std::string header = line.content;
                size_t number = line.number;
                ++at_;
                items.push_back(read_block_scalar(header, indent, number));
            } else {
                items.push_back(read_node(line.indent));
            }
        }
        return items;
    }

    std::vector<Line> lines_;
    size_t at_ = 0;
};

} // namespace

Json parse_yaml(const std::string& text, size_t first_line) {
    // Every line, also the empty one after a final newline (a block scalar that keeps trailing newlines sees it).
    std::vector<std::string> raws = split_lines(text, false);
    if (text.empty() || text.back() == '\n') raws.emplace_back();
    std::vector<Line> lines;
    size_t number = first_line;
    for (std::string& raw : raws) {
        if (!raw.empty() && raw.back() == '\r') raw.pop_back();
        Line line;
        line.number = number++;
        line.raw = raw;
        size_t indent = 0;
        while (indent < raw.size() && (raw[indent] == ' ' || raw[indent] == '\t')) {
            if (raw[indent] == '\t' && raw.find_first_not_of(" \t") != std::string::npos) {
                throw YamlError(line.number, "YAML does not allow tabs for indentation; use spaces");
            }
            ++indent;
        }
        line.indent = indent;
        line.content = strip_comment(raw.substr(indent));
        line.blank = line.content.empty();
        lines.push_back(std::move(line));
    }
    return BlockReader(std::move(lines)).read_document();
}

} // namespace ripple::cli
