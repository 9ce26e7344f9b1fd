// yaml_header.hpp: the YAML of R Markdown headers and #| chunk options, read by libyaml into ordered JSON (YAML 1.1
// scalars as R's yaml package reads them, !r expressions), with errors that name the line. Must not know R or knitr.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace ripple::cli {

class YamlError : public std::runtime_error {
public:
    YamlError(size_t line, const std::string& message) : std::runtime_error(message), line_(line) {}
    size_t line() const { return line_; }

private:
    size_t line_;
};

// Parses `text`, whose first line is line `first_line` of its file. Key order is kept. Scalars follow YAML 1.1 as
// R's yaml package reads them (yes/no are booleans); `!r code` and `!expr code` become {"!r": "code"}.
// Empty text is null. Throws YamlError naming the file line.
nlohmann::ordered_json parse_yaml(const std::string& text, size_t first_line = 1);

} // namespace ripple::cli
