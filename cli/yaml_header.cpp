// yaml_header.cpp: YAML read by libyaml (its event parser), turned into ordered JSON with YAML 1.1 scalars as R's
// yaml package reads them; libyaml's errors become YamlError with the file line. Must not know about R or knitr.
#include "cli/yaml_header.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <regex>
#include <vector>

#include <yaml.h>

namespace ripple::cli {

namespace {

using OrderedJson = nlohmann::ordered_json;

// A plain (unquoted, untagged) scalar as YAML 1.1 resolves it: null, booleans (yes/no/on/off too), integers,
// floats (.inf, .nan), else the string itself.
OrderedJson plain_scalar(const std::string& text) {
    static const std::regex null_re("~|null|Null|NULL");
    static const std::regex true_re("yes|Yes|YES|true|True|TRUE|on|On|ON");
    static const std::regex false_re("no|No|NO|false|False|FALSE|off|Off|OFF");
    static const std::regex int_re("[-+]?(0|[1-9][0-9_]*)");
    static const std::regex hex_re("0x[0-9a-fA-F_]+");
    static const std::regex float_re(
        "[-+]?([0-9][0-9_]*)?\\.[0-9_]*([eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+");
    static const std::regex inf_re("[-+]?\\.(inf|Inf|INF)");
    static const std::regex nan_re("\\.(nan|NaN|NAN)");
    if (text.empty() || std::regex_match(text, null_re)) return nullptr;
    if (std::regex_match(text, true_re)) return true;
    if (std::regex_match(text, false_re)) return false;
    std::string digits;
    for (char c : text) {
        if (c != '_') digits.push_back(c);
    }
    if (std::regex_match(text, int_re) || std::regex_match(text, hex_re)) {
        errno = 0;
        long long value = std::strtoll(digits.c_str(), nullptr, 0);
        if (errno == 0) return value;
    }
    if (std::regex_match(text, float_re) && text != "." && text != "-." && text != "+.") {
        return std::strtod(digits.c_str(), nullptr);
    }
    if (std::regex_match(text, inf_re)) {
        // JSON has no infinity: kept as R code, which is what params need.
        return OrderedJson{{"!r", text[0] == '-' ? "-Inf" : "Inf"}};
    }
    if (std::regex_match(text, nan_re)) return OrderedJson{{"!r", "NaN"}};
    return text;
}

class EventReader {
public:
    EventReader(const std::string& text, size_t first_line) : text_(text), first_line_(first_line) {
        if (!yaml_parser_initialize(&parser_)) throw YamlError(first_line, "the YAML reader could not start");
        yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    }
    ~EventReader() { yaml_parser_delete(&parser_); }
    EventReader(const EventReader&) = delete;
    EventReader& operator=(const EventReader&) = delete;

    OrderedJson document() {
        Event stream = next(); // STREAM-START
        Event start = next();
        if (start.type() != YAML_DOCUMENT_START_EVENT) return nullptr; // empty text
        OrderedJson result = node(next());
        expect_end_of_document();
        return result;
    }

private:
    // One event, freed when it goes out of scope.
    class Event {
    public:
        Event() = default;
        Event(const Event&) = delete;
        Event& operator=(const Event&) = delete;
        Event(Event&& other) noexcept : event_(other.event_), owned_(other.owned_) { other.owned_ = false; }
        ~Event() {
            if (owned_) yaml_event_delete(&event_);
        }
        yaml_event_t* get() { return &event_; }
        void own() { owned_ = true; }
        yaml_event_type_t type() const { return event_.type; }
        const yaml_event_t& operator*() const { return event_; }
        size_t line() const { return event_.start_mark.line; }

    private:
        yaml_event_t event_{};
        bool owned_ = false;
    };

    Event next() {
        Event event;
        if (!yaml_parser_parse(&parser_, event.get())) fail();
        event.own();
        return event;
    }

    [[noreturn]] void fail() {
        const yaml_parser_t& p = parser_;
        // A problem found only at the end of the text (an unclosed quote or flow list, a key without ':') is where
        // the construct being read began, when libyaml marked it, else the last line with content; any other
        // problem is where libyaml found it.
        const yaml_mark_t& context = p.context_mark;
        bool at_end = p.problem_mark.index >= text_.size();
        bool context_marked = p.context && (context.index != 0 || context.line != 0 || context.column != 0);
        const yaml_mark_t& mark = at_end && context_marked ? context : p.problem_mark;
        size_t line = mark.line;
        if (mark.index >= text_.size()) line = last_content_line();
        std::string message = p.problem ? p.problem : "malformed YAML";
        if (p.context) message = std::string(p.context) + ", " + message;
        throw YamlError(first_line_ + line, message);
    }

    size_t last_content_line() const {
        size_t line = 0, last = 0;
        for (char c : text_) {
            if (c == '\n') ++line;
            else if (c != ' ' && c != '\t' && c != '\r') last = line;
        }
        return last;
    }

    OrderedJson node(Event event) {
        switch (event.type()) {
        case YAML_SCALAR_EVENT: return scalar(*event);
        case YAML_SEQUENCE_START_EVENT: {
            OrderedJson list = OrderedJson::array();
            while (true) {
                Event item = next();
                if (item.type() == YAML_SEQUENCE_END_EVENT) return list;
                list.push_back(node(std::move(item)));
            }
        }
        case YAML_MAPPING_START_EVENT: {
            OrderedJson map = OrderedJson::object();
            while (true) {
                Event key = next();
                if (key.type() == YAML_MAPPING_END_EVENT) return map;
                size_t line = first_line_ + key.line();
                if (key.type() != YAML_SCALAR_EVENT) throw YamlError(line, "a key must be a plain name");
                const yaml_event_t& k = *key;
                std::string text(reinterpret_cast<const char*>(k.data.scalar.value), k.data.scalar.length);
                if (map.contains(text)) throw YamlError(line, "the key \"" + text + "\" appears twice");
                map[text] = node(next());
            }
        }
        case YAML_ALIAS_EVENT:
            throw YamlError(first_line_ + event.line(), "anchors and aliases (*name) are not supported in headers");
        default: throw YamlError(first_line_ + event.line(), "unexpected YAML structure");
        }
    }

    static OrderedJson scalar(const yaml_event_t& event) {
        std::string value(reinterpret_cast<const char*>(event.data.scalar.value), event.data.scalar.length);
        std::string tag = event.data.scalar.tag ? reinterpret_cast<const char*>(event.data.scalar.tag) : "";
        if (tag == "!r" || tag == "!expr") return OrderedJson{{"!r", value}};
        if (event.data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !tag.empty()) return value;
        return plain_scalar(value);
    }

    void expect_end_of_document() {
        Event end = next();
        if (end.type() != YAML_DOCUMENT_END_EVENT) throw YamlError(first_line_ + end.line(), "unexpected YAML content");
        Event after = next();
        if (after.type() == YAML_DOCUMENT_START_EVENT)
            throw YamlError(first_line_ + after.line(), "a header holds one YAML document");
    }

    const std::string& text_;
    size_t first_line_;
    yaml_parser_t parser_{};
};

} // namespace

OrderedJson parse_yaml(const std::string& text, size_t first_line) {
    EventReader reader(text, first_line);
    return reader.document();
}

} // namespace ripple::cli
