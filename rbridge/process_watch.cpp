// process_watch.cpp: the C library's file, socket and program calls, interposed in the executable (see the header).
// Must not know about R or the engine. Every interposed function calls the C library's own (found with RTLD_NEXT).
//
// Invariants:
// (1) When no watch runs, an interposed call costs one relaxed atomic load more than the C library's.
// (2) Nothing here calls an interposed function while recording (t_recording guards it), and errno is what the
//     C library's call left.
// (3) A child started by fork + exec records its program into a shared anonymous page before exec (it cannot
//     allocate there); the parent reads the page at stop().
#undef _FORTIFY_SOURCE
#include "rbridge/process_watch.hpp"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

namespace ripple::rbridge {
namespace {

std::atomic<bool> g_armed{false};
std::atomic<bool> g_paused{false};
pthread_t g_thread{};
thread_local bool t_recording = false;

// Programs a forked child is about to exec, NUL-separated; shared with children (invariant 3).
struct ExecPage {
    std::atomic<std::uint32_t> used;
    char text[65536 - sizeof(std::atomic<std::uint32_t>)];
};
ExecPage* g_exec_page = nullptr;

struct Touches {
    std::mutex mutex;
    std::vector<std::string> ignored{"/proc/",
                                     "/sys/",
                                     "/dev/",
                                     "/etc/",
                                     "/usr/",
                                     "/lib/",
                                     "/lib64/",
                                     "/bin/",
                                     "/sbin/",
                                     "/run/",
                                     "/var/cache/fontconfig/"};
    std::set<std::string> read, opened_for_write, removed, appended;
    // Files opened for reading and writing, with their size and modification time when first opened: one the run
    // left unchanged was only read (SQLite opens a database read-write to query it).
    std::map<std::string, std::string> read_write_stamps;
    std::vector<std::string> outside;
};
Touches& touches() {
    static Touches all;
    return all;
}

bool watching() {
    return g_armed.load(std::memory_order_relaxed) && !g_paused.load(std::memory_order_relaxed) && !t_recording &&
           pthread_equal(pthread_self(), g_thread);
}

// Restores errno and the recursion guard whatever recording does.
class RecordingScope {
public:
    RecordingScope() : saved_errno_(errno) { t_recording = true; }
    ~RecordingScope() {
        t_recording = false;
        errno = saved_errno_;
    }
    RecordingScope(const RecordingScope&) = delete;
    RecordingScope& operator=(const RecordingScope&) = delete;

private:
    int saved_errno_;
};

std::string absolute_path(const char* path, int directory_fd) {
    std::string text = path;
    if (text.empty()) return text;
    if (text[0] != '/') {
        char base[PATH_MAX];
        if (directory_fd == AT_FDCWD) {
            if (getcwd(base, sizeof base) == nullptr) return std::string();
        } else {
            std::string link = "/proc/self/fd/" + std::to_string(directory_fd);
            ssize_t n = readlink(link.c_str(), base, sizeof base - 1);
            if (n <= 0) return std::string();
            base[n] = '\0';
        }
        text = std::string(base) + "/" + text;
    }
    return std::filesystem::path(text).lexically_normal().string();
}

bool ignored(const std::string& path) {
    for (const auto& prefix : touches().ignored) {
        if (path.compare(0, prefix.size(), prefix) == 0) return true;
    }
    return false;
}

enum class Access { Read, Write, Append, ReadWrite, Remove };

std::string stamp_of(const std::string& path) {
    struct stat info {};
    if (stat(path.c_str(), &info) != 0) return "missing";
    return std::to_string(info.st_size) + ":" + std::to_string(info.st_mtim.tv_sec) + "." +
           std::to_string(info.st_mtim.tv_nsec);
}

void note_file(const char* path, int directory_fd, Access access) {
    if (path == nullptr || !watching()) return;
    RecordingScope scope;
    std::string absolute = absolute_path(path, directory_fd);
    if (absolute.empty()) return;
    Touches& all = touches();
    std::lock_guard<std::mutex> lock(all.mutex);
    if (ignored(absolute)) return;
    // Reading back what this run wrote is not an input; reading first and then writing is (a read-modify-write).
    if ((access == Access::Read || access == Access::ReadWrite) && !all.opened_for_write.count(absolute))
        all.read.insert(absolute);
    if (access == Access::ReadWrite && !all.opened_for_write.count(absolute))
        all.read_write_stamps.emplace(absolute, stamp_of(absolute));
    if (access == Access::Write || access == Access::ReadWrite) all.opened_for_write.insert(absolute);
    if (access == Access::Remove) all.removed.insert(absolute);
    if (access == Access::Append) all.appended.insert(absolute);
}

Access access_of_flags(int flags) {
    int mode = flags & O_ACCMODE;
    if (mode == O_WRONLY && (flags & O_APPEND) != 0 && (flags & O_TRUNC) == 0) return Access::Append;
    if (mode == O_WRONLY || (flags & O_TRUNC) != 0) return Access::Write;
    if (mode == O_RDWR) return Access::ReadWrite;
    if ((flags & O_CREAT) != 0) return Access::Write;
    return Access::Read;
}

Access access_of_mode(const char* mode) {
    if (mode == nullptr) return Access::Read;
    bool plus = std::strchr(mode, '+') != nullptr;
    if (mode[0] == 'r') return plus ? Access::ReadWrite : Access::Read;
    if (mode[0] == 'a') return plus ? Access::ReadWrite : Access::Append;
    return plus ? Access::ReadWrite : Access::Write; // "w", "x"
}

void note_outside(std::string what) {
    if (!watching()) return;
    RecordingScope scope;
    Touches& all = touches();
    std::lock_guard<std::mutex> lock(all.mutex);
    if (std::find(all.outside.begin(), all.outside.end(), what) == all.outside.end())
        all.outside.push_back(std::move(what));
}

// A program that only reads what is installed is a read of the installation, which is no dependency (SPEC 3):
// Debian's patched R packages ask dpkg for the version of a system library (jquerylib, when DT draws a table).
bool reads_installation(const std::string& command) {
    size_t start = command.find_first_not_of(" \t");
    if (start == std::string::npos) return false;
    std::string text = command.substr(start);
    return text.rfind("dpkg -s ", 0) == 0 || text.rfind("dpkg-query ", 0) == 0 ||
           text.rfind("/usr/bin/dpkg -s ", 0) == 0;
}

std::string shortened(std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    if (text.size() > 60) text = text.substr(0, 57) + "...";
    return text;
}

std::string program_words(const char* file, char* const argv[]) {
    std::string words;
    if (argv != nullptr) {
        for (int i = 0; argv[i] != nullptr && i < 16; ++i) words += (i ? " " : "") + std::string(argv[i]);
    }
    if (words.empty() && file != nullptr) words = file;
    return "the program `" + shortened(words) + "`";
}

// In a forked child, before exec: async-signal-safe only (no allocation, no locks).
void note_exec_in_child(const char* file, char* const argv[]) {
    if (g_exec_page == nullptr || !g_armed.load(std::memory_order_relaxed) ||
        g_paused.load(std::memory_order_relaxed)) {
        return;
    }
    char line[512];
    size_t n = 0;
    auto put = [&](const char* text) {
        for (; text != nullptr && *text != '\0' && n + 1 < sizeof line; ++text) line[n++] = *text == '\n' ? ' ' : *text;
    };
    if (argv != nullptr && argv[0] != nullptr) {
        for (int i = 0; argv[i] != nullptr && i < 16; ++i) {
            if (i) put(" ");
            put(argv[i]);
        }
    } else {
        put(file);
    }
    line[n++] = '\0';
    std::uint32_t at = g_exec_page->used.fetch_add(static_cast<std::uint32_t>(n));
    if (at + n <= sizeof g_exec_page->text) std::memcpy(g_exec_page->text + at, line, n);
}

std::string socket_peer(const sockaddr* address, socklen_t length) {
    if (address == nullptr) return std::string();
    char text[INET6_ADDRSTRLEN] = "";
    if (address->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(address);
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        return "a socket to " + std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
    }
    if (address->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        return "a socket to [" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    if (address->sa_family == AF_UNIX) {
        const auto* un = reinterpret_cast<const sockaddr_un*>(address);
        size_t room = length > offsetof(sockaddr_un, sun_path) ? length - offsetof(sockaddr_un, sun_path) : 0;
        std::string path(un->sun_path, strnlen(un->sun_path, std::min(room, sizeof un->sun_path)));
        if (path.empty() && room > 1) return "an abstract socket";
        return "the socket " + path;
    }
    return std::string();
}

template <class Function>
Function c_library(const char* name) {
    return reinterpret_cast<Function>(dlsym(RTLD_NEXT, name));
}

} // namespace

void ProcessWatch::ignore_prefix(const std::string& prefix) {
    if (prefix.empty()) return;
    Touches& all = touches();
    std::lock_guard<std::mutex> lock(all.mutex);
    if (std::find(all.ignored.begin(), all.ignored.end(), prefix) == all.ignored.end()) all.ignored.push_back(prefix);
}

void ProcessWatch::start() {
    if (g_exec_page == nullptr) {
        void* page = mmap(nullptr, sizeof(ExecPage), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (page != MAP_FAILED) g_exec_page = new (page) ExecPage{};
    }
    if (g_exec_page != nullptr) g_exec_page->used.store(0);
    Touches& all = touches();
    {
        std::lock_guard<std::mutex> lock(all.mutex);
        all.read.clear();
        all.opened_for_write.clear();
        all.removed.clear();
        all.appended.clear();
        all.read_write_stamps.clear();
        all.outside.clear();
    }
    g_thread = pthread_self();
    g_paused.store(false);
    g_armed.store(true);
}

ProcessTouches ProcessWatch::stop() {
    g_armed.store(false);
    RecordingScope scope;
    Touches& all = touches();
    std::lock_guard<std::mutex> lock(all.mutex);
    ProcessTouches result;
    namespace fs = std::filesystem;
    std::error_code error;
    std::string cwd = fs::current_path(error).string();
    auto relative = [&cwd](const std::string& path) {
        if (!cwd.empty() && cwd != "/" && path.size() > cwd.size() + 1 && path.compare(0, cwd.size(), cwd) == 0 &&
            path[cwd.size()] == '/') {
            return path.substr(cwd.size() + 1);
        }
        return path;
    };
    for (const auto& [path, stamp] : all.read_write_stamps) {
        if (stamp_of(path) == stamp) all.opened_for_write.erase(path);
    }
    // A file this run wrote that is gone at its end was scratch (a temporary file, a journal): not an effect.
    auto scratch = [&](const std::string& path) {
        return all.opened_for_write.count(path) && !fs::exists(path, error);
    };
    for (const auto& path : all.read) {
        if (scratch(path) || fs::is_directory(path, error)) continue;
        result.read.insert(relative(path));
    }
    for (const auto& path : all.opened_for_write) {
        if (!scratch(path)) result.written.insert(relative(path));
    }
    for (const auto& path : all.removed) {
        if (!all.opened_for_write.count(path)) result.written.insert(relative(path));
    }
    for (const auto& path : all.appended) {
        if (!result.written.count(relative(path)) && fs::exists(path, error)) result.appended.insert(relative(path));
    }
    result.outside = all.outside;
    if (g_exec_page != nullptr) {
        std::uint32_t used = std::min<std::uint32_t>(g_exec_page->used.load(), sizeof g_exec_page->text);
        for (std::uint32_t at = 0; at < used;) {
            std::string words(g_exec_page->text + at, strnlen(g_exec_page->text + at, used - at));
            at += static_cast<std::uint32_t>(words.size()) + 1;
            // sh -c COMMAND (R's own system() with a timeout): what the shell runs is the program.
            if (words.rfind("sh -c ", 0) == 0 && reads_installation(words.substr(6))) continue;
            if (reads_installation(words)) continue;
            std::string what = "the program `" + shortened(words) + "`";
            if (std::find(result.outside.begin(), result.outside.end(), what) == result.outside.end())
                result.outside.push_back(what);
        }
    }
    return result;
}

void ProcessWatch::pause(bool paused) { g_paused.store(paused); }

bool ProcessWatch::interposing() {
    using Fopen = FILE* (*)(const char*, const char*);
    return reinterpret_cast<Fopen>(dlsym(RTLD_DEFAULT, "fopen")) == static_cast<Fopen>(&::fopen) &&
           c_library<Fopen>("fopen") != nullptr;
}

} // namespace ripple::rbridge

// ---- The interposed C library functions -----------------------------------------------------------------------------
using ripple::rbridge::Access;
using ripple::rbridge::access_of_flags;
using ripple::rbridge::access_of_mode;
using ripple::rbridge::c_library;
using ripple::rbridge::note_exec_in_child;
using ripple::rbridge::note_file;
using ripple::rbridge::note_outside;
using ripple::rbridge::program_words;
using ripple::rbridge::reads_installation;
using ripple::rbridge::shortened;
using ripple::rbridge::socket_peer;

namespace {

// open(2)'s optional third argument is read only when the flags need it.
bool takes_mode(int flags) { return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE; }

// A read of a missing file is an input too ("missing"); failed writes change nothing.
void note_open(const char* path, int directory_fd, int flags, int result) {
    if ((flags & O_DIRECTORY) != 0) return;
    Access access = access_of_flags(flags);
    if (result < 0 && (access != Access::Read || errno != ENOENT)) return;
    note_file(path, directory_fd, access);
}

} // namespace

extern "C" {

int open(const char* path, int flags, ...) {
    static auto real = c_library<int (*)(const char*, int, ...)>("open");
    mode_t mode = 0;
    if (takes_mode(flags)) {
        va_list args;
        va_start(args, flags);
        mode = static_cast<mode_t>(va_arg(args, int));
        va_end(args);
    }
    int fd = real(path, flags, mode);
    note_open(path, AT_FDCWD, flags, fd);
    return fd;
}

int open64(const char* path, int flags, ...) {
    static auto real = c_library<int (*)(const char*, int, ...)>("open64");
    mode_t mode = 0;
    if (takes_mode(flags)) {
        va_list args;
        va_start(args, flags);
        mode = static_cast<mode_t>(va_arg(args, int));
        va_end(args);
    }
    int fd = real(path, flags, mode);
    note_open(path, AT_FDCWD, flags, fd);
    return fd;
}

int openat(int directory_fd, const char* path, int flags, ...) {
    static auto real = c_library<int (*)(int, const char*, int, ...)>("openat");
    mode_t mode = 0;
    if (takes_mode(flags)) {
        va_list args;
        va_start(args, flags);
        mode = static_cast<mode_t>(va_arg(args, int));
        va_end(args);
    }
    int fd = real(directory_fd, path, flags, mode);
    note_open(path, directory_fd, flags, fd);
    return fd;
}

int openat64(int directory_fd, const char* path, int flags, ...) {
    static auto real = c_library<int (*)(int, const char*, int, ...)>("openat64");
    mode_t mode = 0;
    if (takes_mode(flags)) {
        va_list args;
        va_start(args, flags);
        mode = static_cast<mode_t>(va_arg(args, int));
        va_end(args);
    }
    int fd = real(directory_fd, path, flags, mode);
    note_open(path, directory_fd, flags, fd);
    return fd;
}

// What code compiled with _FORTIFY_SOURCE calls instead of open() when it passes no mode.
int __open_2(const char* path, int flags) {
    static auto real = c_library<int (*)(const char*, int)>("__open_2");
    int fd = real(path, flags);
    note_open(path, AT_FDCWD, flags, fd);
    return fd;
}

int __open64_2(const char* path, int flags) {
    static auto real = c_library<int (*)(const char*, int)>("__open64_2");
    int fd = real(path, flags);
    note_open(path, AT_FDCWD, flags, fd);
    return fd;
}

int creat(const char* path, mode_t mode) {
    static auto real = c_library<int (*)(const char*, mode_t)>("creat");
    int fd = real(path, mode);
    if (fd >= 0) note_file(path, AT_FDCWD, Access::Write);
    return fd;
}

FILE* fopen(const char* __restrict path, const char* __restrict mode) {
    static auto real = c_library<FILE* (*)(const char*, const char*)>("fopen");
    FILE* file = real(path, mode);
    Access access = access_of_mode(mode);
    if (file != nullptr || (access == Access::Read && errno == ENOENT)) note_file(path, AT_FDCWD, access);
    return file;
}

FILE* fopen64(const char* __restrict path, const char* __restrict mode) {
    static auto real = c_library<FILE* (*)(const char*, const char*)>("fopen64");
    FILE* file = real(path, mode);
    Access access = access_of_mode(mode);
    if (file != nullptr || (access == Access::Read && errno == ENOENT)) note_file(path, AT_FDCWD, access);
    return file;
}

FILE* freopen(const char* __restrict path, const char* __restrict mode, FILE* __restrict stream) {
    static auto real = c_library<FILE* (*)(const char*, const char*, FILE*)>("freopen");
    FILE* file = real(path, mode, stream);
    if (file != nullptr && path != nullptr) note_file(path, AT_FDCWD, access_of_mode(mode));
    return file;
}

int rename(const char* from, const char* to) {
    static auto real = c_library<int (*)(const char*, const char*)>("rename");
    int result = real(from, to);
    if (result == 0) {
        note_file(from, AT_FDCWD, Access::Remove);
        note_file(to, AT_FDCWD, Access::Write);
    }
    return result;
}

int unlink(const char* path) {
    static auto real = c_library<int (*)(const char*)>("unlink");
    int result = real(path);
    if (result == 0) note_file(path, AT_FDCWD, Access::Remove);
    return result;
}

int unlinkat(int directory_fd, const char* path, int flags) {
    static auto real = c_library<int (*)(int, const char*, int)>("unlinkat");
    int result = real(directory_fd, path, flags);
    if (result == 0 && (flags & AT_REMOVEDIR) == 0) note_file(path, directory_fd, Access::Remove);
    return result;
}

int remove(const char* path) {
    static auto real = c_library<int (*)(const char*)>("remove");
    int result = real(path);
    if (result == 0) note_file(path, AT_FDCWD, Access::Remove);
    return result;
}

int connect(int fd, const struct sockaddr* address, socklen_t length) {
    static auto real = c_library<int (*)(int, const struct sockaddr*, socklen_t)>("connect");
    int result = real(fd, address, length);
    if (ripple::rbridge::watching()) {
        std::string peer;
        {
            ripple::rbridge::RecordingScope scope;
            peer = socket_peer(address, length);
        }
        if (!peer.empty()) note_outside(std::move(peer));
    }
    return result;
}

int system(const char* command) {
    static auto real = c_library<int (*)(const char*)>("system");
    if (command != nullptr && ripple::rbridge::watching() && !reads_installation(command))
        note_outside("the program `" + shortened(command) + "`");
    return real(command);
}

FILE* popen(const char* command, const char* mode) {
    static auto real = c_library<FILE* (*)(const char*, const char*)>("popen");
    if (command != nullptr && ripple::rbridge::watching() && !reads_installation(command))
        note_outside("the program `" + shortened(command) + "`");
    return real(command, mode);
}

int posix_spawn(pid_t* __restrict pid, const char* __restrict path, const posix_spawn_file_actions_t* actions,
                const posix_spawnattr_t* __restrict attributes, char* const argv[], char* const envp[]) {
    static auto real = c_library<int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                                         const posix_spawnattr_t*, char* const[], char* const[])>("posix_spawn");
    if (ripple::rbridge::watching()) note_outside(program_words(path, argv));
    return real(pid, path, actions, attributes, argv, envp);
}

int posix_spawnp(pid_t* __restrict pid, const char* __restrict file, const posix_spawn_file_actions_t* actions,
                 const posix_spawnattr_t* __restrict attributes, char* const argv[], char* const envp[]) {
    static auto real = c_library<int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                                         const posix_spawnattr_t*, char* const[], char* const[])>("posix_spawnp");
    if (ripple::rbridge::watching()) note_outside(program_words(file, argv));
    return real(pid, file, actions, attributes, argv, envp);
}

// exec in a child forked while a cell ran (processx, R's own system() with a timeout).
int execve(const char* path, char* const argv[], char* const envp[]) {
    static auto real = c_library<int (*)(const char*, char* const[], char* const[])>("execve");
    note_exec_in_child(path, argv);
    return real(path, argv, envp);
}

int execv(const char* path, char* const argv[]) {
    static auto real = c_library<int (*)(const char*, char* const[])>("execv");
    note_exec_in_child(path, argv);
    return real(path, argv);
}

int execvp(const char* file, char* const argv[]) {
    static auto real = c_library<int (*)(const char*, char* const[])>("execvp");
    note_exec_in_child(file, argv);
    return real(file, argv);
}

int execvpe(const char* file, char* const argv[], char* const envp[]) {
    static auto real = c_library<int (*)(const char*, char* const[], char* const[])>("execvpe");
    note_exec_in_child(file, argv);
    return real(file, argv, envp);
}

// The execl family takes its arguments as a list; they are gathered for execv (at most 255 of them, as ripple's
// callers need far fewer: sh -c COMMAND).
int execl(const char* path, const char* first, ...) {
    char* argv[256];
    int n = 0;
    argv[n++] = const_cast<char*>(first);
    va_list args;
    va_start(args, first);
    while (argv[n - 1] != nullptr && n < 255) argv[n++] = va_arg(args, char*);
    va_end(args);
    argv[n] = nullptr;
    return execv(path, argv);
}

int execlp(const char* file, const char* first, ...) {
    char* argv[256];
    int n = 0;
    argv[n++] = const_cast<char*>(first);
    va_list args;
    va_start(args, first);
    while (argv[n - 1] != nullptr && n < 255) argv[n++] = va_arg(args, char*);
    va_end(args);
    argv[n] = nullptr;
    return execvp(file, argv);
}

} // extern "C"
