// byte_size.hpp: sizes as people write them ("500M", "1.5GB", "2 GiB") -> bytes, for every size ripple reads from an
// option or a variable. Header-only and dependency-free: must not know about the store, R or the front doors.
#pragma once

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace ripple::dag {

// "500M", "5G", "1.5GB", "2 GiB", "123" (bytes): units of 1024. nullopt for anything else (empty, negative, unknown
// unit, no digits, too large, and zero unless `zero_allowed`, for a size that may mean "keep nothing"):
// RIPPLE_CACHE_MAX_SIZE, RIPPLE_MEMORY_BUDGET, RIPPLE_LARGE_VALUE and `run-notebook cache gc --max-size` read sizes
// with it.
inline std::optional<std::uint64_t> parse_byte_size(std::string_view text, bool zero_allowed = false) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) text.remove_suffix(1);
    std::size_t digits = 0;
    bool point = false;
    while (digits < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[digits])) != 0 || (text[digits] == '.' && !point))) {
        point = point || text[digits] == '.';
        ++digits;
    }
    const std::string number(text.substr(0, digits));
    if (number.empty() || number == "." || digits > 20) return std::nullopt;
    std::string unit;
    for (char c : text.substr(digits)) {
        if (c != ' ') unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (unit.size() == 3 && unit.substr(1) == "ib") unit.resize(1); // KiB, MiB, GiB, TiB
    if (unit.size() == 2 && unit[1] == 'b') unit.resize(1);         // KB, MB, GB, TB
    int shift = 0;
    if (unit.empty() || unit == "b") shift = 0;
    else if (unit == "k") shift = 10;
    else if (unit == "m") shift = 20;
    else if (unit == "g") shift = 30;
    else if (unit == "t") shift = 40;
    else return std::nullopt;
    const long double bytes = std::strtold(number.c_str(), nullptr) * static_cast<long double>(1ULL << shift);
    if (zero_allowed && bytes == 0) return 0;
    if (!(bytes >= 1) || bytes > static_cast<long double>(1ULL << 62)) return std::nullopt;
    return static_cast<std::uint64_t>(bytes);
}

} // namespace ripple::dag
