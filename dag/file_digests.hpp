// file_digests.hpp: content hashes of the files cells read (literal paths, relative to the working directory),
// remembered by (device, inode, size, mtime) so an unchanged file is not read again. Pure C++: no R, no cells.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace ripple::dag {

class FileDigests {
public:
    // SHA-256 of the file's content; nullopt when it is missing, not a regular file or unreadable.
    std::optional<std::string> digest(const std::string& path);

private:
    struct Stamp {
        std::uint64_t device = 0, inode = 0;
        std::int64_t size = 0, mtime_ns = 0;
        bool operator==(const Stamp&) const = default;
    };
    std::map<std::string, std::pair<Stamp, std::string>> known_; // absolute path -> stamp, digest
};

} // namespace ripple::dag
