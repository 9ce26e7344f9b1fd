// plain_text.cpp: line splitting, trimming and UTF-8 encoding shared by run-notebook's readers and writers.
// Pure C++: must not know about notebooks, R Markdown or R.
#include "cli/plain_text.hpp"

namespace ripple::cli {

std::vector<std::string> split_lines(const std::string& text, bool keep_newlines) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            lines.push_back(text.substr(start));
            break;
        }
        lines.push_back(text.substr(start, end - start + (keep_newlines ? 1 : 0)));
        start = end + 1;
    }
    return lines;
}

namespace {
constexpr std::string_view kWhitespace = " \t\r\n\v\f";
} // namespace

std::string trim(std::string_view text) {
    size_t start = text.find_first_not_of(kWhitespace);
    if (start == std::string_view::npos) return std::string();
    return std::string(text.substr(start, text.find_last_not_of(kWhitespace) - start + 1));
}

std::string trim_end(std::string_view text) {
    size_t end = text.find_last_not_of(kWhitespace);
    return end == std::string_view::npos ? std::string() : std::string(text.substr(0, end + 1));
}

void append_utf8(std::string& out, unsigned long code) {
    if (code < 0x80) {
        out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (code >> 6)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (code >> 12)));
        out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (code >> 18)));
        out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
}

} // namespace ripple::cli
