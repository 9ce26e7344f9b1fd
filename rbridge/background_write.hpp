// background_write.hpp: writes one R value to a file in a forked child (its copy-on-write snapshot, as Redis saves),
// hashing it on the way, so the session goes on while a large value reaches the cache. No dag/, no Jupyter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <sys/types.h>

#include "r_values.hpp"

namespace ripple::rbridge {

// What the child reported: the payload's SHA-256 (value_hash's) and size, or why it failed.
struct BackgroundWriteResult {
    bool ok = false;
    std::string hash;
    std::uint64_t bytes = 0;
    std::string error; // one sentence when !ok ("no space left on device")
};

// One child at work. Move-only; destroying an unfinished one waits for it (bounded, then kills it).
class BackgroundWrite {
public:
    // Forks a child that writes value's serialization (value_hash.hpp's write_value) to `path` (created, mode 0600)
    // and exits. nullopt if fork or pipe failed: the caller writes in the foreground instead.
    static std::optional<BackgroundWrite> start(SEXP value, const std::string& path);

    BackgroundWrite(BackgroundWrite&& other) noexcept;
    BackgroundWrite& operator=(BackgroundWrite&& other) noexcept;
    BackgroundWrite(const BackgroundWrite&) = delete;
    BackgroundWrite& operator=(const BackgroundWrite&) = delete;
    ~BackgroundWrite();

    // The result once the child has finished (nullopt: still writing). With `wait`, blocks up to timeout_seconds
    // and then kills the child (a failed result).
    std::optional<BackgroundWriteResult> poll(bool wait, double timeout_seconds = 600);
    const std::string& path() const { return path_; }

private:
    BackgroundWrite(pid_t pid, int fd, std::string path) : pid_(pid), fd_(fd), path_(std::move(path)) {}
    void reap(bool kill_first);

    pid_t pid_ = -1;
    int fd_ = -1;
    std::string path_;
    std::string received_;
    std::optional<BackgroundWriteResult> result_;
};

} // namespace ripple::rbridge
