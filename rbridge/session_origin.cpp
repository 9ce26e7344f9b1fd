// session_origin.cpp: the stamps and variables that make up a session's origin. Conservative by design: a change
// that would not alter the session only costs a run with R; one that would must change the digest.
#include "rbridge/session_origin.hpp"

#include <Rversion.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <sys/stat.h>

#ifndef RIPPLE_R_LIB_DIR
#define RIPPLE_R_LIB_DIR ""
#endif

extern char** environ;

namespace ripple::rbridge {

namespace fs = std::filesystem;

namespace {

// dev:inode:size:mtime, or "missing".
std::string stamp(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) return "missing";
    return std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino) + ":" + std::to_string(info.st_size) + ":" +
           std::to_string(static_cast<long long>(info.st_mtim.tv_sec)) + "." + std::to_string(info.st_mtim.tv_nsec);
}

bool read_at_start(std::string_view variable) {
    auto starts = [&](std::string_view prefix) { return variable.substr(0, prefix.size()) == prefix; };
    return starts("R_") || starts("LC_") || variable == "LANG" || variable == "LANGUAGE" || variable == "TZ" ||
           variable == "HOME";
}

} // namespace

std::string linked_r_version() { return std::string(R_MAJOR) + "." + R_MINOR; }

std::string session_origin(const fs::path& r_library, const fs::path& working_dir) {
    std::string origin = "ripple-session-origin 1\nR " + linked_r_version() + "\n";
    const fs::path r_lib = RIPPLE_R_LIB_DIR;
    const fs::path r_home = std::getenv("R_HOME") != nullptr ? fs::path(std::getenv("R_HOME")) : r_lib.parent_path();
    origin += "R_HOME " + r_home.string() + "\n";
    std::vector<fs::path> files = {"/proc/self/exe",
                                   r_lib / "libR.so",
                                   r_home / "etc" / "Renviron",
                                   r_home / "etc" / "Renviron.site",
                                   r_home / "etc" / "Rprofile.site",
                                   r_home / "library" / "base" / "R" / "Rprofile",
                                   r_library / "ripple" / "DESCRIPTION",
                                   r_library / "ripple" / "R" / "ripple.rdb",
                                   working_dir / ".Rprofile",
                                   working_dir / ".Renviron"};
    if (const char* home = std::getenv("HOME"); home != nullptr) {
        files.push_back(fs::path(home) / ".Rprofile");
        files.push_back(fs::path(home) / ".Renviron");
    }
    std::error_code ignored;
    for (const auto& file : files) {
        fs::path resolved = file == "/proc/self/exe" ? fs::read_symlink(file, ignored) : file;
        origin += "file " + resolved.string() + " " + stamp(resolved.string()) + "\n";
    }
    std::vector<std::string> variables;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        std::string_view text(*entry);
        if (read_at_start(text.substr(0, text.find('=')))) variables.emplace_back(text);
    }
    std::sort(variables.begin(), variables.end());
    for (const auto& variable : variables) origin += "env " + variable + "\n";
    origin += "cwd " + fs::absolute(working_dir, ignored).lexically_normal().string() + "\n";
    return origin;
}

} // namespace ripple::rbridge
