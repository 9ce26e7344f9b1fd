// private_files.cpp: mkdir/open/chmod with explicit modes for the cache's and the history's files (see the header).
#include "dag/private_files.hpp"

#include <cerrno>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ripple::dag {

namespace fs = std::filesystem;

FileModes modes_for(const fs::path& directory) {
    struct stat info {};
    if (::stat(directory.c_str(), &info) == 0 && S_ISDIR(info.st_mode) && (info.st_mode & S_IWGRP) != 0) {
        return FileModes{0770, 0660, true};
    }
    return FileModes{};
}

bool create_private_directories(const fs::path& path, const FileModes& modes) {
    std::vector<fs::path> missing;
    for (fs::path at = path; !at.empty(); at = at.parent_path()) {
        struct stat info {};
        if (::stat(at.c_str(), &info) == 0) break;
        missing.push_back(at);
        if (at == at.parent_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        if (::mkdir(it->c_str(), modes.directory) == 0) {
            ::chmod(it->c_str(), modes.directory); // mkdir's mode passed through the umask
        } else if (errno != EEXIST) {
            return false;
        }
    }
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

void make_private_file(const fs::path& path, const FileModes& modes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, modes.file);
    if (fd >= 0) {
        ::fchmod(fd, modes.file);
        ::close(fd);
        return;
    }
    if (errno != EEXIST || modes.shared) return;
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && info.st_uid == ::geteuid() && (info.st_mode & 0077) != 0) {
        ::chmod(path.c_str(), info.st_mode & 0700);
    }
}

void make_private_database(const fs::path& path, const FileModes& modes) {
    make_private_file(path, modes);
    for (const char* suffix : {"-wal", "-shm"}) {
        fs::path side = path;
        side += suffix;
        std::error_code ignored;
        if (fs::exists(side, ignored)) make_private_file(side, modes);
    }
}

} // namespace ripple::dag
