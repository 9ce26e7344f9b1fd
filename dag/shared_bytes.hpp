// shared_bytes.hpp: bytes that someone else keeps alive (a mapped value file, a string), passed without copying.
// Pure C++; the cache store makes them, the engine and the runtime read them.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace ripple::dag {

struct SharedBytes {
    std::shared_ptr<const void> owner; // keeps `bytes` valid (a mapping, a string)
    std::string_view bytes;
    bool mapped = false; // a read-only file mapping: its pages may be dropped once read

    static SharedBytes of(std::string text) {
        auto kept = std::make_shared<const std::string>(std::move(text));
        return SharedBytes{kept, std::string_view(*kept)};
    }
};

} // namespace ripple::dag
