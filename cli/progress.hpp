// progress.hpp: what run-notebook tells the person or CI log watching it, on stderr: a live progress line on a
// TTY, one plain line per cell otherwise, notes, errors, and --log-output text. Must not know about R or the engine.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "cli/cell_output.hpp"

namespace ripple::cli {

class Progress {
public:
    // quiet: only errors. tty: redraw one line with the elapsed time (else one line per finished cell).
    Progress(std::FILE* stream, bool quiet, bool tty);
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    void start_cell(size_t position, size_t total, const std::string& label);
    void finish_cell(CellStatus status, double seconds, bool from_cache);
    void note(const std::string& line);  // shown unless quiet
    void error(const std::string& text); // always shown
    void live(const std::string& text);  // --log-output: cell output as it comes
    void summary(const std::string& line);

private:
    void redraw_locked();
    void clear_line_locked();
    void write_locked(const std::string& text);
    void tick();

    std::FILE* stream_;
    bool quiet_;
    bool tty_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool running_ = false;
    bool quit_ = false;
    bool line_shown_ = false;
    bool live_mid_line_ = false;
    size_t position_ = 0, total_ = 0;
    std::string label_;
    std::chrono::steady_clock::time_point started_{};
    std::thread ticker_;
};

} // namespace ripple::cli
