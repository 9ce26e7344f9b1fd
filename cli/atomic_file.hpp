// atomic_file.hpp: writing an output file so that readers see either the old file or the whole new one
// (temp file in the same directory, fsync, rename). Pure C++: must not know about notebooks, R or the engine.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace ripple::cli {

class FileError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Replaces `target` with `content`; an existing target keeps its permissions. Throws FileError (one sentence).
void write_file_atomically(const std::filesystem::path& target, const std::string& content);

// The whole file, or FileError naming it.
std::string read_text_file(const std::filesystem::path& file);

} // namespace ripple::cli
