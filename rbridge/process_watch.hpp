// process_watch.hpp: what the process touches outside R while a cell runs: the files it opens, creates, renames or
// removes, the sockets it connects, the programs it starts. Knows nothing of the engine or of R's headers.
//
// How: the ripple executables define the C library's open/fopen/rename/unlink/connect/system/popen/posix_spawn
// (process_watch.cpp) and export them (interposed_symbols.list), so every call from R, from zlib, from a package's
// C or C++ code resolves to them first; each records what it sees, then calls the C library's own function. Only
// the thread that started the watch is recorded, and only between start() and stop(). What this cannot see: calls
// the C library makes to itself (opendir, stat, getaddrinfo's own sockets), programs started by fork + exec
// (processx), files mapped or opened by another process, and reads of a file that stays open across cells.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace ripple::rbridge {

// What one watched stretch of a run touched. Paths are absolute and lexically normal, or relative to the working
// directory when they lie under it (so "data.csv" is the same input whether a cell names it or computes it).
struct ProcessTouches {
    std::set<std::string> read;       // files opened for reading (also those opened for reading and writing)
    std::set<std::string> written;    // files opened for writing, created, renamed onto or removed
    std::set<std::string> appended;   // files only appended to (logs): an effect a fresh run repeats, not a new content
    std::vector<std::string> outside; // "a socket to 127.0.0.1:5432", "the program `dot -Tsvg`": cannot be exact
};

class ProcessWatch {
public:
    // Files under `prefix` are never recorded (R's installation, package libraries, ripple's plot folder).
    static void ignore_prefix(const std::string& prefix);
    // Records the calling thread's calls from now until stop(). Nested starts are not supported.
    static void start();
    static ProcessTouches stop();
    // While paused (ripple's own R code running a program or writing scratch files for a cell), nothing is recorded.
    static void pause(bool paused);
    // False when this executable does not interpose the C library (then nothing is ever recorded).
    static bool interposing();
};

} // namespace ripple::rbridge
