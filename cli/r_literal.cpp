// r_literal.cpp: a small reader for R's literal syntax and a writer of R code for plain values.
// Pure C++: must not know about the R runtime; anything beyond literals is left for R to evaluate.
#include "cli/r_literal.hpp"

#include "cli/plain_text.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ripple::cli {

using nlohmann::json;

namespace {

class LiteralReader {
public:
    explicit LiteralReader(std::string_view text) : text_(text) {}

    std::optional<json> read_all() {
        auto value = read_value(true);
        skip_space();
        if (!value || at_ != text_.size()) return std::nullopt;
        return value;
    }

private:
    void skip_space() {
        while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
    }
    bool take(char c) {
        skip_space();
        if (at_ < text_.size() && text_[at_] == c) {
            ++at_;
            return true;
        }
        return false;
    }
    std::string word() {
        skip_space();
        size_t start = at_;
        while (at_ < text_.size() &&
               (std::isalnum(static_cast<unsigned char>(text_[at_])) || text_[at_] == '_' || text_[at_] == '.')) {
            ++at_;
        }
        return std::string(text_.substr(start, at_ - start));
    }

    std::optional<json> read_value(bool allow_vector) {
        skip_space();
        if (at_ >= text_.size()) return std::nullopt;
        char c = text_[at_];
        if (c == '"' || c == '\'') return read_string();
        if (c == '-' || c == '+') {
            ++at_;
            auto number = read_value(false);
            if (!number || !number->is_number()) return std::nullopt;
            return c == '-' ? json(-number->get<double>()) : *number;
        }
        if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
            if (c == '.' && (at_ + 1 >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[at_ + 1])))) {
                return std::nullopt;
            }
            return read_number();
        }
        size_t mark = at_;
        std::string name = word();
        if (name == "TRUE" || name == "T") return json(true);
        if (name == "FALSE" || name == "F") return json(false);
        if (name == "NULL") return json(nullptr);
        if (name == "NA" || name == "NA_character_" || name == "NA_real_" || name == "NA_integer_") {
            return json{{"NA", true}};
        }
        if (name == "Inf") return json(HUGE_VAL);
        if (name == "list" && allow_vector && take('(')) return read_list();
        if (name == "c" && allow_vector && take('(')) {
            json items = json::array();
            if (take(')')) return json(nullptr);
            do {
                auto item = read_value(false);
                if (!item) return std::nullopt;
                items.push_back(*item);
            } while (take(','));
            if (!take(')')) return std::nullopt;
            if (items.size() == 1) return items[0];
            return items;
        }
        at_ = mark;
        return std::nullopt;
    }

    // list(a = 1, `b c` = "x") -> {"a": 1, "b c": "x"}; list(1, 2) -> [1, 2]; list() -> {}.
    std::optional<json> read_list() {
        json named = json::object();
        json unnamed = json::array();
        if (take(')')) return named;
        do {
            skip_space();
            size_t mark = at_;
            std::optional<std::string> key;
            if (at_ < text_.size() && text_[at_] == '`') {
                size_t close = text_.find('`', at_ + 1);
                if (close == std::string_view::npos) return std::nullopt;
                key = std::string(text_.substr(at_ + 1, close - at_ - 1));
                at_ = close + 1;
            } else {
                std::string name = word();
                if (!name.empty()) key = name;
            }
            if (key && take('=')) {
                auto value = read_value(true);
                if (!value) return std::nullopt;
                named[*key] = *value;
            } else {
                at_ = mark;
                auto value = read_value(true);
                if (!value) return std::nullopt;
                unnamed.push_back(*value);
            }
        } while (take(','));
        if (!take(')')) return std::nullopt;
        if (!named.empty() && !unnamed.empty()) return std::nullopt;
        return unnamed.empty() ? named : unnamed;
    }

    std::optional<json> read_number() {
        size_t start = at_;
        bool hex = text_.substr(at_, 2) == "0x" || text_.substr(at_, 2) == "0X";
        if (hex) at_ += 2;
        while (at_ < text_.size()) {
            char c = text_[at_];
            bool exponent_sign =
                (c == '+' || c == '-') && at_ > start && !hex && (text_[at_ - 1] == 'e' || text_[at_ - 1] == 'E');
            if (std::isdigit(static_cast<unsigned char>(c)) || c == '.' || exponent_sign ||
                (hex ? std::isxdigit(static_cast<unsigned char>(c)) : (c == 'e' || c == 'E'))) {
                ++at_;
            } else {
                break;
            }
        }
        std::string digits(text_.substr(start, at_ - start));
        if (at_ < text_.size() && text_[at_] == 'L') ++at_;
        if (at_ < text_.size() && (std::isalpha(static_cast<unsigned char>(text_[at_])) || text_[at_] == '_')) {
            return std::nullopt; // 1i, 2x: not a plain number
        }
        char* end = nullptr;
        double value =
            hex ? static_cast<double>(std::strtoull(digits.c_str(), &end, 16)) : std::strtod(digits.c_str(), &end);
        if (end == nullptr || *end != '\0' || digits.empty()) return std::nullopt;
        if (std::floor(value) == value && std::fabs(value) < 9e15) return json(static_cast<long long>(value));
        return json(value);
    }

    std::optional<json> read_string() {
        char quote = text_[at_++];
        std::string out;
        while (at_ < text_.size() && text_[at_] != quote) {
            char c = text_[at_++];
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (at_ >= text_.size()) return std::nullopt;
            char e = text_[at_++];
            switch (e) {
            case 'n': out.push_back('\n'); break;
            case 't': out.push_back('\t'); break;
            case 'r': out.push_back('\r'); break;
            case '0': out.push_back('\0'); break;
            case '\\':
            case '"':
            case '\'':
            case '`':
            case ' ': out.push_back(e); break;
            case 'u':
            case 'U': {
                bool braced = at_ < text_.size() && text_[at_] == '{';
                if (braced) ++at_;
                size_t start = at_;
                while (at_ < text_.size() && at_ - start < (e == 'u' ? 4u : 8u) &&
                       std::isxdigit(static_cast<unsigned char>(text_[at_]))) {
                    ++at_;
                }
                if (start == at_) return std::nullopt;
                unsigned long code = std::strtoul(std::string(text_.substr(start, at_ - start)).c_str(), nullptr, 16);
                if (braced && !(at_ < text_.size() && text_[at_++] == '}')) return std::nullopt;
                append_utf8(out, code);
                break;
            }
            default: return std::nullopt;
            }
        }
        if (at_ >= text_.size()) return std::nullopt;
        ++at_;
        return json(out);
    }

    std::string_view text_;
    size_t at_ = 0;
};

template <class Json>
std::string number_code(const Json& value) {
    if (value.is_number_integer() || value.is_number_unsigned()) return value.dump();
    double x = value.template get<double>();
    if (std::isinf(x)) return x > 0 ? "Inf" : "-Inf";
    if (std::isnan(x)) return "NaN";
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.17g", x);
    return buffer;
}

template <class Json>
bool is_scalar(const Json& value) {
    return value.is_string() || value.is_number() || value.is_boolean();
}

} // namespace

std::string r_string_literal(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: out.push_back(c);
        }
    }
    return out + "\"";
}

std::optional<json> parse_r_literal(std::string_view code) { return LiteralReader(code).read_all(); }

bool is_r_na(const json& value) { return value.is_object() && value.contains("NA"); }

std::string r_code_for(const nlohmann::ordered_json& value) {
    if (value.is_null()) return "NULL";
    if (value.is_boolean()) return value.get<bool>() ? "TRUE" : "FALSE";
    if (value.is_number()) return number_code(value);
    if (value.is_string()) return r_string_literal(value.get<std::string>());
    if (value.is_object() && value.size() == 1 && value.contains("!r") && value["!r"].is_string()) {
        return "(" + value["!r"].get<std::string>() + ")";
    }
    if (value.is_array()) {
        bool scalars = !value.empty();
        for (const auto& item : value) scalars = scalars && is_scalar(item) && item.type() == value[0].type();
        if (!scalars && !value.empty()) {
            // numbers of both kinds (1, 2.5) still make one numeric vector
            scalars = true;
            for (const auto& item : value) scalars = scalars && item.is_number();
        }
        std::string code = scalars ? "c(" : "list(";
        for (size_t i = 0; i < value.size(); ++i) code += (i ? ", " : "") + r_code_for(value[i]);
        return code + ")";
    }
    std::string code = "list(";
    bool first = true;
    for (const auto& [key, item] : value.items()) {
        code += (first ? "" : ", ") + std::string("`") + key + "` = " + r_code_for(item);
        first = false;
    }
    return code + ")";
}

} // namespace ripple::cli
