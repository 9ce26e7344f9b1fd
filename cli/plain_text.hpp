// plain_text.hpp: line splitting, trimming and UTF-8 encoding shared by run-notebook's readers and writers.
// Pure C++: must not know about notebooks, R Markdown or R.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ripple::cli {

// The lines of `text`; with keep_newlines each keeps its "\n" (nbformat's multiline strings).
// A trailing "\n" does not start another line.
std::vector<std::string> split_lines(const std::string& text, bool keep_newlines);

// `text` without leading and trailing whitespace (space, tab, CR, LF, vertical tab, form feed).
std::string trim(std::string_view text);
// `text` without trailing whitespace (the same characters as trim).
std::string trim_end(std::string_view text);

// Appends the UTF-8 encoding of the code point `code` (from a "\u" or "\U" escape).
void append_utf8(std::string& out, unsigned long code);

} // namespace ripple::cli
