// engine_session.hpp: run-notebook's one embedded R session and engine (the kernel's dag::Engine over
// rbridge::EngineRuntime): runs cells by id, records what each showed, and interrupts a cell past --timeout.
// Knows dag and rbridge only through their public headers; makes no engine decisions (what reruns, what is cached).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cli/cell_output.hpp"
#include "cli/command_line.hpp"
#include "dag/replay_chain.hpp"

namespace ripple::cli {

// An R Markdown chunk that knitr renders (rbridge::CellEvaluator::knit_next_cell): the request for
// ripple:::.knit_chunk, R code of a list (header, source, options). All of it is part of the cell's cache key.
struct KnitChunk {
    std::string request;
};

// R could not start (it starts when the first cell needs it, which may be in the middle of a run).
class RStartError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct CellRun {
    std::vector<CellOutput> outputs;
    bool failed = false;
    bool interrupted = false; // stopped: by the watchdog (timed_out) or by SIGINT/SIGTERM
    bool timed_out = false;
    bool from_cache = false; // the engine served it from the persistent cache (outputs replayed, not run)
    double seconds = 0;
    // Other cells the engine ran for this request (stale upstream cells, reactive reruns), with their outputs.
    std::vector<std::pair<std::string, std::vector<CellOutput>>> also_ran;
    // Displays this run replaced by id (update_display_data) that it did not publish itself.
    std::vector<CellOutput> display_updates;
    std::vector<std::string> notices; // the engine's one-line notices (opaque state rebuilt, ...)
    // Dry run (`why`) only: the cells that would have to run for this request, each with why, and the cells the
    // cache served.
    std::vector<std::pair<std::string, std::vector<std::string>>> would_run;
    std::vector<std::string> served_from_cache;
};

struct SessionSettings {
    std::filesystem::path r_library; // where the ripple R package is installed
    CacheSettings cache;             // the persistent cache: where, and whether to read (off, --force)
    // Where each cell's last key is remembered for `run-notebook why` (absolute paths: the input, the output).
    std::vector<std::string> cache_scopes;
    // A cache problem, one "ripple cache: ..." line (default: stderr). Never fails the run.
    std::function<void(const std::string&)> cache_warning;
    std::optional<double> timeout_seconds; // per request
    // --log-output: each piece of output as R produces it.
    std::function<void(const CellOutput&)> live_output;
    // Called from the watchdog thread when a timed-out cell ignores the interrupt: write what can be written and
    // end the process (R is stuck in code that never checks for interrupts).
    std::function<void()> on_stuck;
};

class EngineSession {
public:
    // Opens the cache. R (once per process, in the current working directory) starts when the first cell needs it:
    // while the cache's replay chain (dag/replay_chain.hpp) knows each cell's run from the code alone, cells are
    // served without R. Throws RStartError if R cannot start, here or in the first call that needs it.
    explicit EngineSession(SessionSettings settings);
    ~EngineSession();
    EngineSession(const EngineSession&) = delete;
    EngineSession& operator=(const EngineSession&) = delete;

    // Runs a tracked cell: cells are given in document order, each id once per run. `logged`: its output goes to
    // the live log (--log-output) as well.
    CellRun run_cell(const std::string& id, const std::string& code, std::optional<KnitChunk> knit = std::nullopt,
                     bool logged = true);
    // Runs code against the state at the end of the cells run so far, without tracking or logging it.
    CellRun run_untracked(const std::string& code);
    // True when R's parser says `code` is one or more complete expressions.
    bool is_complete(const std::string& code);
    std::string label(const std::string& id) const;
    std::string r_version() const;
    // False while every cell so far was served without starting R.
    bool r_started() const;
    // How long R's own start-up took (nullopt: R did not start).
    std::optional<double> r_start_seconds() const;
    // The persistent cache for a front door's own deterministic steps (pandoc's HTML), by a content key the caller
    // computes: the stored bytes (verified), or nullopt. Storing is best effort. Never starts R.
    std::optional<std::string> cached_artifact(const std::string& key);
    void store_artifact(const std::string& key, const std::string& bytes, const std::string& what);
    // The persistent cache is open and can serve hits.
    bool cache_available() const;
    std::filesystem::path cache_directory() const;
    // Dry run (`why`): from now on nothing runs; hits are served, misses are reported in CellRun::would_run with
    // the key parts that changed since the cell's last key remembered under `scope`. Needs cache_available().
    void start_dry_run(const std::string& scope);

    // RIPPLE_R_LIBRARY, else the installed tree next to the binary, else the build tree.
    static std::filesystem::path default_r_library();

    // SIGINT and SIGTERM interrupt the running cell and ask the run to stop (stop_signal() says which).
    static void install_stop_handlers();
    static int stop_signal();

private:
    class Recorder;
    class Watchdog;
    struct Replayed;
    CellRun run(const std::optional<std::string>& id, const std::string& code, std::optional<KnitChunk> knit,
                bool logged);
    CellRun replay(const std::string& id, const std::string& code, const std::optional<KnitChunk>& knit,
                   const dag::ReplayChain::Served& served, bool logged);
    bool replaying() const;
    void start_r();
    void remember_keys(); // writes the keys run() collected for `why`

    SessionSettings settings_;
    std::unique_ptr<Recorder> recorder_;
    std::unique_ptr<Watchdog> watchdog_;
    struct Engine;
    std::unique_ptr<Engine> engine_; // exists once R has started
    struct Cache;
    std::unique_ptr<Cache> cache_;
    std::vector<Replayed> replayed_; // cells served without R, in order, until R starts
    bool dry_run_ = false;
    bool catching_up_ = false; // start_r() is running the replayed cells again
    double r_start_seconds_ = 0;
};

} // namespace ripple::cli
