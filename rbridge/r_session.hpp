// r_session.hpp: owns the embedded R interpreter: start-up, console hooks, input, interrupts, stack limit.
// Must not know about Jupyter, ZeroMQ or the engine (dag/); it speaks plain C++ types only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "output_sink.hpp"

namespace ripple::rbridge {

struct SessionOptions {
    std::string r_library_dir;   // where the `ripple` R support package is installed
    bool source_profiles = true; // Rprofile.site and ~/.Rprofile, as R itself does
};

// Asked for a line of user input (readline(), readLines(stdin()), browser()).
// Returns nullopt when no input can be had (client has no stdin, or an interrupt came).
using InputHandler = std::function<std::optional<std::string>(const std::string& prompt, bool password)>;

// Called when R itself ends the process (quit() reached R's clean-up): last words, then exit.
using ExitHandler = std::function<void(const std::string& notice, int status)>;

// The embedded R session. R is process-global and single-threaded, so there is exactly one,
// and every method except request_interrupt() must be called on the thread that started it.
class RSession {
public:
    static RSession& start(const SessionOptions& options);
    static RSession& get();
    ~RSession();
    RSession(const RSession&) = delete;
    RSession& operator=(const RSession&) = delete;

    // Where console output and displays go; nullptr sends console text to the process's stderr.
    void set_sink(OutputSink* sink);
    OutputSink* sink() const { return sink_; }
    void set_input_handler(InputHandler handler) { input_handler_ = std::move(handler); }
    void set_exit_handler(ExitHandler handler) { exit_handler_ = std::move(handler); }
    // Answers R's questions to the front door (ripple::why(), graph(), mode()): JSON in, JSON out.
    using QueryHandler = std::function<nlohmann::json(const nlohmann::json& request)>;
    void set_engine_query_handler(QueryHandler handler) { query_handler_ = std::move(handler); }
    nlohmann::json engine_query(const nlohmann::json& request) const;
    // The request's metadata (JSON text) that R code can read back with ripple::request_metadata().
    void set_request_metadata(std::string json) { request_metadata_ = std::move(json); }
    const std::string& request_metadata() const { return request_metadata_; }

    // Console text from R (WriteConsoleEx) is buffered briefly and flushed in order.
    void console_write(std::string_view text, StreamName name);
    void flush_console();
    void flush_console_if_stale();

    std::optional<std::string> read_input(const std::string& prompt, bool password);
    void notify_exit(const std::string& notice, int status);

    // Interrupts. request_interrupt() is async-signal-safe and callable from any thread; it only
    // has an effect while R is executing user code (see ExecutionScope).
    static void request_interrupt() noexcept;
    static bool interrupt_requested() noexcept;
    static void install_sigint_handler();

    // Marks the span during which user code runs: interrupts are honoured only inside it.
    class ExecutionScope {
    public:
        ExecutionScope();
        ~ExecutionScope();
        ExecutionScope(const ExecutionScope&) = delete;
        ExecutionScope& operator=(const ExecutionScope&) = delete;
    };

    std::string r_version() const;

private:
    explicit RSession(const SessionOptions& options);
    void install_console_hooks();
    void restore_stack_limit();
    void register_native_routines();
    void load_support_code(const SessionOptions& options);

    struct Embedded; // R's embedding state; its headers stay out of this one
    std::unique_ptr<Embedded> embedded_;
    OutputSink* sink_ = nullptr;
    InputHandler input_handler_;
    ExitHandler exit_handler_;
    QueryHandler query_handler_;
    std::string request_metadata_ = "{}";
    std::string buffer_;
    StreamName buffered_name_ = StreamName::Stdout;
    std::chrono::steady_clock::time_point last_flush_{};
};

} // namespace ripple::rbridge
