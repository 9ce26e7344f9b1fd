// background_write.cpp: fork, write the value's serialization to a file while hashing it, report on a pipe, _exit.
// The child touches only the value (immutable in the parent, copied on write by the kernel) and its own file.
#include "background_write.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "value_hash.hpp"

namespace ripple::rbridge {

namespace {

// The child's side: everything in one function that never returns. Nothing here may throw or unwind into the
// parent's frames, and exit handlers (R's, the kernel's) must not run: _exit.
[[noreturn]] void write_in_child(SEXP value, const std::string& path, int report_fd) {
    // The parent's interrupt (a user's Ctrl-C reaching the process group) is not the child's business.
    std::signal(SIGINT, SIG_IGN);
    std::string report;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        report = "error " + std::string(std::strerror(errno));
    } else {
        int saved_errno = 0;
        std::optional<ValueDigest> digest = write_value(value, fd);
        if (!digest) saved_errno = errno;
        if (digest && ::fsync(fd) != 0) {
            saved_errno = errno;
            digest.reset();
        }
        if (::close(fd) != 0 && digest) {
            saved_errno = errno;
            digest.reset();
        }
        if (digest) {
            report = "ok " + digest->hash + " " + std::to_string(digest->bytes);
        } else {
            ::unlink(path.c_str());
            report = "error " + std::string(saved_errno != 0 ? std::strerror(saved_errno) : "R could not serialize it");
        }
    }
    report += "\n";
    ssize_t ignored = ::write(report_fd, report.data(), report.size());
    (void)ignored;
    ::_exit(0);
}

} // namespace

std::optional<BackgroundWrite> BackgroundWrite::start(SEXP value, const std::string& path) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        return std::nullopt;
    }
    if (pid == 0) {
        ::close(fds[0]);
        write_in_child(value, path, fds[1]);
    }
    ::close(fds[1]);
    ::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    return BackgroundWrite(pid, fds[0], path);
}

BackgroundWrite::BackgroundWrite(BackgroundWrite&& other) noexcept
        : pid_(other.pid_), fd_(other.fd_), path_(std::move(other.path_)), received_(std::move(other.received_)),
          result_(std::move(other.result_)) {
    other.pid_ = -1;
    other.fd_ = -1;
}

BackgroundWrite& BackgroundWrite::operator=(BackgroundWrite&& other) noexcept {
    if (this != &other) {
        reap(true);
        pid_ = other.pid_;
        fd_ = other.fd_;
        path_ = std::move(other.path_);
        received_ = std::move(other.received_);
        result_ = std::move(other.result_);
        other.pid_ = -1;
        other.fd_ = -1;
    }
    return *this;
}

BackgroundWrite::~BackgroundWrite() {
    if (pid_ > 0 && !result_) poll(true, 60);
    reap(true);
}

void BackgroundWrite::reap(bool kill_first) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (pid_ > 0) {
        if (kill_first) ::kill(pid_, SIGKILL);
        // ECHILD when someone else reaped it (a SIGCHLD handler): nothing to do.
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {}
    }
    pid_ = -1;
}

std::optional<BackgroundWriteResult> BackgroundWrite::poll(bool wait, double timeout_seconds) {
    if (result_) return result_;
    if (fd_ < 0) return result_ = BackgroundWriteResult{false, "", 0, "the writer is gone"};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
    for (;;) {
        char buffer[256];
        ssize_t n = ::read(fd_, buffer, sizeof buffer);
        if (n > 0) {
            received_.append(buffer, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        bool finished = n == 0; // EOF: the child exited (or died)
        if (!finished && !wait) return std::nullopt;
        if (!finished) {
            auto left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
            if (left <= 0) {
                reap(true);
                ::unlink(path_.c_str());
                return result_ = BackgroundWriteResult{false, "", 0, "it took longer than the time allowed"};
            }
            pollfd waiting{fd_, POLLIN, 0};
            ::poll(&waiting, 1, static_cast<int>(std::min(left, 1.0) * 1000) + 1);
            continue;
        }
        reap(false);
        BackgroundWriteResult result;
        if (received_.rfind("ok ", 0) == 0) {
            size_t space = received_.find(' ', 3);
            result.ok = space != std::string::npos;
            if (result.ok) {
                result.hash = received_.substr(3, space - 3);
                result.bytes = std::strtoull(received_.c_str() + space + 1, nullptr, 10);
            }
        } else if (received_.rfind("error ", 0) == 0) {
            result.error = received_.substr(6, received_.find('\n') - 6);
        } else {
            result.error = "the writer stopped before it finished";
            ::unlink(path_.c_str());
        }
        return result_ = result;
    }
}

} // namespace ripple::rbridge
