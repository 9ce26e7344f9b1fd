// progress.cpp: stderr reporting for run-notebook, safe to call from the R thread while the ticker redraws.
// Must not know about R or the engine.
#include "cli/progress.hpp"

#include <cstdio>

namespace ripple::cli {

namespace {

std::string seconds_text(double seconds) {
    char buffer[32];
    if (seconds < 10) std::snprintf(buffer, sizeof buffer, "%.2f s", seconds);
    else std::snprintf(buffer, sizeof buffer, "%.1f s", seconds);
    return buffer;
}

} // namespace

Progress::Progress(std::FILE* stream, bool quiet, bool tty) : stream_(stream), quiet_(quiet), tty_(tty && !quiet) {
    if (tty_) ticker_ = std::thread([this] { tick(); });
}

Progress::~Progress() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        quit_ = true;
        clear_line_locked();
    }
    wake_.notify_all();
    if (ticker_.joinable()) ticker_.join();
}

void Progress::tick() {
    using namespace std::chrono_literals;
    std::unique_lock<std::mutex> lock(mutex_);
    while (!quit_) {
        wake_.wait_for(lock, 250ms);
        if (running_ && !quit_) redraw_locked();
    }
}

void Progress::clear_line_locked() {
    if (tty_ && line_shown_) {
        std::fputs("\r\033[K", stream_);
        line_shown_ = false;
    }
}

void Progress::redraw_locked() {
    if (!tty_ || !running_ || live_mid_line_) return;
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    std::string line = "[" + std::to_string(position_) + "/" + std::to_string(total_) + "] " + label_ + "  " +
                       seconds_text(elapsed) + "  running";
    std::fputs(("\r\033[K" + line).c_str(), stream_);
    std::fflush(stream_);
    line_shown_ = true;
}

void Progress::write_locked(const std::string& text) {
    clear_line_locked();
    std::fputs(text.c_str(), stream_);
    std::fflush(stream_);
}

void Progress::start_cell(size_t position, size_t total, const std::string& label) {
    std::lock_guard<std::mutex> lock(mutex_);
    position_ = position;
    total_ = total;
    label_ = label;
    started_ = std::chrono::steady_clock::now();
    running_ = true;
    redraw_locked();
}

void Progress::finish_cell(CellStatus status, double seconds, bool from_cache) {
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = false;
    if (quiet_) return;
    std::string line = "[" + std::to_string(position_) + "/" + std::to_string(total_) + "] " + label_ + "  " +
                       status_name(status) + "  " + seconds_text(seconds) + "  " + (from_cache ? "cached" : "run");
    if (live_mid_line_) {
        write_locked("\n");
        live_mid_line_ = false;
    }
    if (tty_) {
        // On a terminal the line stays as the last word on this cell until the next one starts.
        clear_line_locked();
        std::fputs(("\r\033[K" + line).c_str(), stream_);
        std::fflush(stream_);
        line_shown_ = true;
    } else {
        write_locked(line + "\n");
    }
}

void Progress::note(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (quiet_) return;
    write_locked(line + "\n");
    redraw_locked();
}

void Progress::error(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    write_locked(text.empty() || text.back() == '\n' ? text : text + "\n");
    redraw_locked();
}

void Progress::live(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (text.empty()) return;
    write_locked(text);
    live_mid_line_ = text.back() != '\n';
    redraw_locked();
}

void Progress::summary(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (quiet_) return;
    write_locked(line + "\n");
}

} // namespace ripple::cli
