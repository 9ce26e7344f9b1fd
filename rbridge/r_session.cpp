// r_session.cpp: embedded R start-up (libR's embedding API), console/input/exit hooks, interrupts, stack limit,
// and the native routines the `ripple` R package calls. Must not know about Jupyter or the engine.
// Rinterface.h declares the console hook pointers only with R_INTERFACE_PTRS, and must be the
// first R header seen.
#define R_NO_REMAP
#define R_INTERFACE_PTRS
#define CSTACK_DEFNS
#include <Rinterface.h>

#include "r_session.hpp"
#include "rbridge/global_state.hpp"
#include "rbridge/process_watch.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include <sys/resource.h>

#include <Rembedded.h>

#include "r_values.hpp"

#include <R_ext/Rdynload.h>
#include <R_ext/eventloop.h>
extern "C" {
extern void* __libc_stack_end; // glibc: the initial stack address, as R itself uses
extern int R_interrupts_pending;
}

namespace ripple::rbridge {

namespace {

RSession* g_session = nullptr;
std::atomic<bool> g_executing{false};
volatile std::sig_atomic_t g_interrupt_flag = 0;
static_assert(std::atomic<bool>::is_always_lock_free, "interrupts rely on a lock-free flag");

// --- console hooks (C callbacks R calls) -----------------------------------------------------

void write_console(const char* buf, int len, int otype) {
    if (g_session == nullptr) return;
    g_session->console_write(std::string_view(buf, static_cast<size_t>(len)),
                             otype == 0 ? StreamName::Stdout : StreamName::Stderr);
}

enum class ReadOutcome { Line, EndOfInput, Interrupted };

ReadOutcome read_console_impl(const char* prompt, unsigned char* buf, int len) {
    if (g_session == nullptr) return ReadOutcome::EndOfInput;
    g_session->flush_console();
    std::optional<std::string> line = g_session->read_input(prompt ? prompt : "", false);
    if (RSession::interrupt_requested()) return ReadOutcome::Interrupted;
    if (!line) return ReadOutcome::EndOfInput;
    std::string text = *line;
    if (text.size() > static_cast<size_t>(len - 2)) text.resize(static_cast<size_t>(len - 2));
    text.push_back('\n');
    std::memcpy(buf, text.c_str(), text.size() + 1);
    return ReadOutcome::Line;
}

// No C++ object with a destructor lives in this frame: R_CheckUserInterrupt may longjmp.
int read_console(const char* prompt, unsigned char* buf, int len, int /*add_to_history*/) {
    ReadOutcome outcome = read_console_impl(prompt, buf, len);
    if (outcome == ReadOutcome::Interrupted) {
        R_CheckUserInterrupt();
        return 0;
    }
    return outcome == ReadOutcome::Line ? 1 : 0;
}

void show_message(const char* message) {
    if (g_session == nullptr) return;
    g_session->console_write(message, StreamName::Stderr);
    g_session->console_write("\n", StreamName::Stderr);
}

void busy(int) {}

void polled_events() {
    if (g_session != nullptr) g_session->flush_console_if_stale();
}

// What R does at its end (Rf_endEmbeddedR, and R_CleanUp after quit()), from the pieces Rembedded.h exports for it:
// finalizers registered to run at exit, graphics devices closed (an open png() writes its file), and the session's
// folder (/tmp/RtmpXXXXXX), which R_CleanTempDir would remove by running `sh -c "rm -Rf DIR"`: two processes, about
// 10 ms of every exit.
void end_r_session() {
    R_RunExitFinalizers();
    Rf_KillAllDevices();
    if (R_TempDir == nullptr || *R_TempDir == '\0') return;
    std::error_code ignored;
    std::filesystem::remove_all(R_TempDir, ignored);
}

void clean_up(SA_TYPE, int status, int /*run_last*/) {
    std::string notice = "R called quit() (status " + std::to_string(status) +
                         "): the ripple kernel process is ending; restart the kernel to continue.\n";
    if (g_session != nullptr) g_session->notify_exit(notice, status);
    std::fputs(notice.c_str(), stderr);
    end_r_session(); // what R's own clean-up does last
    std::_Exit(status);
}

void suicide(const char* message) {
    std::string notice = std::string("R hit a fatal error and must stop: ") + message + "\n";
    if (g_session != nullptr) g_session->notify_exit(notice, 4);
    std::fputs(notice.c_str(), stderr);
    std::_Exit(4);
}

void on_sigint(int) { RSession::request_interrupt(); }

// --- native routines for the ripple R package (.Call(..., PACKAGE = "(embedding)")) --------

SEXP native_publish(SEXP data, SEXP metadata, SEXP display_id, SEXP update) {
    if (g_session == nullptr || g_session->sink() == nullptr) return R_NilValue;
    MimeBundle bundle;
    bundle.data = to_json(data);
    bundle.metadata = metadata == R_NilValue ? nlohmann::json::object() : to_json(metadata);
    if (!bundle.data.is_object()) return R_NilValue;
    if (!bundle.metadata.is_object()) bundle.metadata = nlohmann::json::object();
    g_session->flush_console();
    g_session->sink()->display(bundle, as_string(display_id), as_bool(update));
    return R_NilValue;
}

SEXP native_clear_output(SEXP wait) {
    if (g_session != nullptr && g_session->sink() != nullptr) {
        g_session->flush_console();
        g_session->sink()->clear_output(as_bool(wait));
    }
    return R_NilValue;
}

SEXP native_request_metadata() {
    return Rf_mkString(g_session != nullptr ? g_session->request_metadata().c_str() : "{}");
}

SEXP native_page(SEXP data) {
    if (g_session == nullptr || g_session->sink() == nullptr) return R_NilValue;
    MimeBundle bundle;
    bundle.data = to_json(data);
    if (bundle.data.is_object()) g_session->sink()->page(bundle);
    return R_NilValue;
}

SEXP native_engine_query(SEXP request) {
    nlohmann::json answer = {{"status", "error"}, {"message", "this R session is not run by a ripple engine."}};
    if (g_session != nullptr) answer = g_session->engine_query(to_json(request));
    return from_json(answer);
}

// interactive() for the code that follows (knitr renders with it FALSE; the kernel keeps it TRUE); returns the old one.
SEXP native_set_interactive(SEXP flag) {
    const bool was = R_Interactive != FALSE;
    R_Interactive = as_bool(flag) ? TRUE : FALSE;
    return Rf_ScalarLogical(was ? TRUE : FALSE);
}

// R's registration table stores every routine as DL_FUNC; void(*)() is the sanctioned detour.
template <class F>
DL_FUNC as_dl_func(F* fn) {
    return reinterpret_cast<DL_FUNC>(reinterpret_cast<void (*)()>(fn));
}

SEXP native_watch_pause(SEXP paused) {
    ProcessWatch::pause(Rf_asLogical(paused) == TRUE);
    return R_NilValue;
}

const R_CallMethodDef kCallMethods[] = {
    {"ripple_publish", as_dl_func(&native_publish), 4},
    {"ripple_clear_output", as_dl_func(&native_clear_output), 1},
    {"ripple_request_metadata", as_dl_func(&native_request_metadata), 0},
    {"ripple_page", as_dl_func(&native_page), 1},
    {"ripple_engine_query", as_dl_func(&native_engine_query), 1},
    {"ripple_watch_pause", as_dl_func(&native_watch_pause), 1},
    {"ripple_set_interactive", as_dl_func(&native_set_interactive), 1},
    {"ripple_load_value", as_dl_func(&ripple_native_load_value), 1},
    {nullptr, nullptr, 0},
};

std::string r_string_literal(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out + "\"";
}

} // namespace

// R itself, started the way RInside would start it (R_HOME, no R signal handlers, --vanilla, no echo) but
// without RInside's constructor, which always loads the Rcpp package: 0.16 s of a 0.25 s start-up, for code
// ripple never calls. Profiles are sourced by the ripple package (.init_session), as R would.
#ifndef RIPPLE_R_HOME
#define RIPPLE_R_HOME ""
#define RIPPLE_R_SHARE_DIR ""
#define RIPPLE_R_INCLUDE_DIR ""
#define RIPPLE_R_DOC_DIR ""
#endif
struct RSession::Embedded {
    Embedded() {
        // What R's start-up script exports (the installation's folders), unless the environment says otherwise.
        for (const auto& [name, value] :
             {std::pair{"R_HOME", RIPPLE_R_HOME}, std::pair{"R_SHARE_DIR", RIPPLE_R_SHARE_DIR},
              std::pair{"R_INCLUDE_DIR", RIPPLE_R_INCLUDE_DIR}, std::pair{"R_DOC_DIR", RIPPLE_R_DOC_DIR}}) {
            if (std::getenv(name) == nullptr && *value != '\0') setenv(name, value, 1);
        }
        // The heap R may fill before its first garbage collections. With R's defaults (350k cells, 6 MB) a fresh
        // session collects several times per rich display until its heap has grown: head(mtcars) took 18 ms a
        // round trip instead of 8 (kernel_bench). A user's own R_NSIZE / R_VSIZE win.
        if (std::getenv("R_NSIZE") == nullptr) setenv("R_NSIZE", "1000000", 1);
        if (std::getenv("R_VSIZE") == nullptr) setenv("R_VSIZE", "32M", 1);
        R_SignalHandlers = 0; // SIGINT is ours (request_interrupt); R must not install its handlers
        const char* argv[] = {"ripple",   "--gui=none", "--no-save", "--no-restore",
                              "--silent", "--vanilla",  "--no-echo", "--no-readline"};
        Rf_initEmbeddedR(static_cast<int>(sizeof argv / sizeof argv[0]), const_cast<char**>(argv));
        R_Interactive = TRUE;
    }
    ~Embedded() { end_r_session(); }
    Embedded(const Embedded&) = delete;
    Embedded& operator=(const Embedded&) = delete;
};

RSession& RSession::start(const SessionOptions& options) {
    if (g_session != nullptr) throw std::logic_error("the R session is already started");
    // R prints UTF-8 only when the locale says so; kernels are often started without one.
    if (std::getenv("LC_ALL") == nullptr && std::getenv("LANG") == nullptr) setenv("LC_ALL", "C.UTF-8", 1);
    static std::unique_ptr<RSession> session(new RSession(options));
    return *session;
}

RSession& RSession::get() {
    if (g_session == nullptr) throw std::logic_error("the R session is not started");
    return *g_session;
}

RSession::RSession(const SessionOptions& options) : embedded_(std::make_unique<Embedded>()) {
    g_session = this;
    install_console_hooks();
    restore_stack_limit();
    register_native_routines();
    load_support_code(options);
}

nlohmann::json RSession::engine_query(const nlohmann::json& request) const {
    if (!query_handler_) return {{"status", "error"}, {"message", "this R session is not run by a ripple engine."}};
    try {
        return query_handler_(request);
    } catch (const std::exception& e) {
        return {{"status", "error"}, {"message", std::string("the engine could not answer: ") + e.what()}};
    }
}

RSession::~RSession() {
    flush_console();
    g_session = nullptr;
}

void RSession::install_console_hooks() {
    R_Outputfile = nullptr;
    R_Consolefile = nullptr;
    ptr_R_WriteConsole = nullptr;
    ptr_R_WriteConsoleEx = &write_console;
    ptr_R_ReadConsole = &read_console;
    ptr_R_ShowMessage = &show_message;
    ptr_R_Busy = &busy;
    ptr_R_CleanUp = &clean_up;
    ptr_R_Suicide = &suicide;
    R_PolledEvents = &polled_events;
    R_wait_usec = 20000; // Sys.sleep() wakes every 20 ms so buffered output is flushed live
    R_Interactive = TRUE;
}

// An embedding program must make sure R's C stack checking has a real limit (RInside set R_CStackLimit = -1);
// without it deep recursion segfaults. Set it the way R computes it for the main thread.
void RSession::restore_stack_limit() {
    struct rlimit limit {};
    uintptr_t bytes = 8u << 20;
    if (getrlimit(RLIMIT_STACK, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) bytes = limit.rlim_cur;
    R_CStackStart = reinterpret_cast<uintptr_t>(__libc_stack_end);
    R_CStackLimit = static_cast<uintptr_t>(static_cast<double>(bytes) * 0.95);
}

void RSession::register_native_routines() {
    DllInfo* dll = R_getEmbeddingDllInfo();
    R_registerRoutines(dll, nullptr, kCallMethods, nullptr, nullptr);
}

void RSession::load_support_code(const SessionOptions& options) {
    std::string code = ".libPaths(c(" + r_string_literal(options.r_library_dir) + ", .libPaths()))\n";
    if (!eval_text_guarded(code) || !eval_text_guarded("loadNamespace('ripple')")) {
        throw std::runtime_error("could not load the ripple R support package from " + options.r_library_dir +
                                 " (rebuild ripple, or set RIPPLE_R_LIBRARY)");
    }
    SEXP init = ripple_function(".init_session");
    ProtectScope protect;
    SEXP profiles = protect(Rf_ScalarLogical(options.source_profiles ? TRUE : FALSE));
    if (call_guarded(init, {profiles}) == nullptr) {
        throw std::runtime_error("the ripple R support package failed to initialise the session");
    }
    if (SEXP prefixes = call_guarded(ripple_function(".unwatched_prefixes"), {}); prefixes != nullptr) {
        ProtectScope keep;
        keep(prefixes);
        for (R_xlen_t i = 0; TYPEOF(prefixes) == STRSXP && i < XLENGTH(prefixes); ++i)
            ProcessWatch::ignore_prefix(Rf_translateCharUTF8(STRING_ELT(prefixes, i)));
    }
}

void RSession::set_sink(OutputSink* sink) {
    flush_console();
    sink_ = sink;
    last_flush_ = {};
}

void RSession::console_write(std::string_view text, StreamName name) {
    if (sink_ == nullptr) {
        std::fwrite(text.data(), 1, text.size(), stderr);
        return;
    }
    if (name != buffered_name_ && !buffer_.empty()) flush_console();
    buffered_name_ = name;
    buffer_.append(text);
    using namespace std::chrono_literals;
    if (buffer_.size() >= 64 * 1024 ||
        (text.find('\n') != std::string_view::npos && std::chrono::steady_clock::now() - last_flush_ >= 30ms)) {
        flush_console();
    }
}

void RSession::flush_console() {
    if (buffer_.empty() || sink_ == nullptr) return;
    std::string text;
    text.swap(buffer_);
    last_flush_ = std::chrono::steady_clock::now();
    sink_->stream(buffered_name_, text);
}

void RSession::flush_console_if_stale() {
    using namespace std::chrono_literals;
    if (!buffer_.empty() && std::chrono::steady_clock::now() - last_flush_ >= 30ms) flush_console();
}

std::optional<std::string> RSession::read_input(const std::string& prompt, bool password) {
    if (!input_handler_) {
        console_write("Input was requested, but this client cannot send input (allow_stdin is false).\n",
                      StreamName::Stderr);
        return std::nullopt;
    }
    return input_handler_(prompt, password);
}

void RSession::notify_exit(const std::string& notice, int status) {
    flush_console();
    if (exit_handler_) exit_handler_(notice, status);
}

void RSession::request_interrupt() noexcept {
    if (g_executing.load(std::memory_order_relaxed)) {
        g_interrupt_flag = 1;
        R_interrupts_pending = 1;
    }
}

bool RSession::interrupt_requested() noexcept { return g_interrupt_flag != 0; }

void RSession::install_sigint_handler() {
    struct sigaction action {};
    action.sa_handler = &on_sigint;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, nullptr);
}

RSession::ExecutionScope::ExecutionScope() {
    g_interrupt_flag = 0;
    R_interrupts_pending = 0;
    g_executing.store(true);
}

RSession::ExecutionScope::~ExecutionScope() {
    g_executing.store(false);
    g_interrupt_flag = 0;
    R_interrupts_pending = 0;
}

std::string RSession::r_version() const {
    SEXP version = call_guarded(Rf_install("getRversion"), {});
    if (version == nullptr) return "";
    ProtectScope protect;
    protect(version);
    SEXP text = call_guarded(Rf_install("as.character"), {version});
    return text ? as_string(text) : "";
}

} // namespace ripple::rbridge
