// atomic_file.cpp: temp file + fsync + rename in the target's directory; a failed write leaves the target untouched.
// Pure C++ over POSIX: must not know about notebooks, R or the engine.
#include "cli/atomic_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ripple::cli {

namespace fs = std::filesystem;

namespace {

// Closes the descriptor and removes the temp file unless it was renamed into place.
class TempFile {
public:
    TempFile(fs::path path, int fd) : path_(std::move(path)), fd_(fd) {}
    ~TempFile() {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_) ::unlink(path_.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    int fd() const { return fd_; }
    const fs::path& path() const { return path_; }
    int close() {
        int rc = ::close(fd_);
        fd_ = -1;
        return rc;
    }
    void committed() { committed_ = true; }

private:
    fs::path path_;
    int fd_;
    bool committed_ = false;
};

std::string system_error_text() { return std::strerror(errno); }

} // namespace

void write_file_atomically(const fs::path& target, const std::string& content) {
    fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        throw FileError("cannot write " + target.string() + ": the directory " + dir.string() + " does not exist.");
    }
    std::random_device device;
    std::string suffix = std::to_string(::getpid()) + "-" + std::to_string(device() % 1000000);
    fs::path temp = dir / ("." + target.filename().string() + ".tmp-" + suffix);
    mode_t mode = 0644;
    struct stat existing {};
    if (::stat(target.c_str(), &existing) == 0) mode = existing.st_mode & 07777;
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) throw FileError("cannot write " + target.string() + ": " + system_error_text() + ".");
    TempFile file(temp, fd);
    ::fchmod(fd, mode); // the umask must not narrow what the file had
    const char* data = content.data();
    size_t left = content.size();
    while (left > 0) {
        ssize_t n = ::write(fd, data, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw FileError("cannot write " + target.string() + ": " + system_error_text() + ".");
        }
        data += n;
        left -= static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 || file.close() != 0) {
        throw FileError("cannot write " + target.string() + ": " + system_error_text() + ".");
    }
    if (::rename(temp.c_str(), target.c_str()) != 0) {
        throw FileError("cannot replace " + target.string() + ": " + system_error_text() + ".");
    }
    file.committed();
    int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        ::fsync(dir_fd);
        ::close(dir_fd);
    }
}

std::string read_text_file(const fs::path& file) {
    std::error_code ec;
    if (!fs::exists(file, ec)) throw FileError(file.string() + " does not exist.");
    if (fs::is_directory(file, ec)) throw FileError(file.string() + " is a directory, not a file.");
    std::ifstream in(file, std::ios::binary);
    if (!in) throw FileError("cannot read " + file.string() + ": " + system_error_text() + ".");
    std::ostringstream content;
    content << in.rdbuf();
    if (in.bad()) throw FileError("cannot read " + file.string() + ".");
    return content.str();
}

} // namespace ripple::cli
