// r_literal.hpp: R literals as text: quoting strings for R, reading plain literals (chunk options, dput() output)
// into JSON, and writing YAML/JSON values as R code (params). Pure C++: must not know about the R runtime.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ripple::cli {

// "a\"b" for a"b: a double-quoted R string literal.
std::string r_string_literal(std::string_view text);

// A plain R literal -> JSON: TRUE/FALSE/T/F -> bool, numbers (1, -2.5, 1e3, 3L, Inf) -> number, strings ->
// string, NULL -> null, NA (any NA_*_) -> {"NA": true}, c(...) of those -> array (c(x) -> x),
// list(name = literal, ...) -> object (what dput() prints for a named list).
// Anything else (calls, names, operators) -> nullopt: it has to be evaluated by R.
std::optional<nlohmann::json> parse_r_literal(std::string_view code);
bool is_r_na(const nlohmann::json& value);

// A YAML/JSON value as R code: strings quoted, true -> TRUE, null -> NULL, a list of scalars -> c(...), other
// lists and maps -> list(...); {"!r": "code"} (YAML's !r / !expr tag) -> code as it is.
std::string r_code_for(const nlohmann::ordered_json& value);

} // namespace ripple::cli
