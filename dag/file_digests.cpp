// file_digests.cpp: file content hashes with a stat() fast path. Pure C++: no R, no cells.
#include "dag/file_digests.hpp"

#include <filesystem>

#include <sys/stat.h>

#include "dag/sha256.hpp"

namespace ripple::dag {

std::optional<std::string> FileDigests::digest(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return std::nullopt;
    std::error_code error;
    std::string absolute = std::filesystem::absolute(path, error).string();
    Stamp stamp{static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino),
                static_cast<std::int64_t>(info.st_size),
                static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec};
    if (auto known = known_.find(absolute); known != known_.end() && known->second.first == stamp) {
        return known->second.second;
    }
    std::optional<std::string> digest = sha256_file(path);
    if (digest) known_[absolute] = {stamp, *digest};
    return digest;
}

} // namespace ripple::dag
