// engine_session.cpp: R start-up for run-notebook, the recorder that turns rbridge's OutputSink calls into CellOutputs,
// the --timeout watchdog and the SIGINT/SIGTERM stop switch. No engine decisions: dag::Engine plans every run.
#include "cli/engine_session.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include "cli/r_literal.hpp"
#include "dag/cache_store.hpp"
#include "dag/engine.hpp"
#include "dag/replay_chain.hpp"
#include "dag/sha256.hpp"
#include "dag/store_execution_cache.hpp"
#include "rbridge/cell_evaluator.hpp"
#include "rbridge/engine_runtime.hpp"
#include "rbridge/output_record.hpp"
#include "rbridge/r_session.hpp"
#include "rbridge/session_origin.hpp"

#ifndef RIPPLE_BUILD_R_LIBRARY
#define RIPPLE_BUILD_R_LIBRARY ""
#endif

namespace ripple::cli {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_stop_signal{0};

void on_stop_signal(int signal) {
    if (g_stop_signal.load() != 0) _exit(128 + signal); // asked twice: stop now
    g_stop_signal.store(signal);
    rbridge::RSession::request_interrupt();
}

CellOutput output_from(const rbridge::MimeBundle& bundle, CellOutput::Kind kind) {
    CellOutput output;
    output.kind = kind;
    output.data = bundle.data.is_object() ? bundle.data : nlohmann::json::object();
    output.metadata = bundle.metadata.is_object() ? bundle.metadata : nlohmann::json::object();
    return output;
}

// Keeps one run's outputs in order, as a Jupyter client would (clear_output, display updates, no pager).
class RecordingSink final : public rbridge::OutputSink {
public:
    RecordingSink(std::vector<CellOutput>& outputs, std::vector<CellOutput>& updates,
                  const std::function<void(const CellOutput&)>& live)
            : outputs_(outputs), updates_(updates), live_(live) {}

    void stream(rbridge::StreamName name, std::string_view text) override {
        before_output();
        CellOutput output =
            CellOutput::stream_text(name == rbridge::StreamName::Stdout ? "stdout" : "stderr", std::string(text));
        if (live_) live_(output);
        // Kept as pieces: R's console is flushed after each top-level expression, so a piece is (about) one
        // expression's output, which knitr-style Markdown needs; the notebook writer joins them.
        outputs_.push_back(std::move(output));
    }
    void display(const rbridge::MimeBundle& bundle, const std::string& display_id, bool update) override {
        CellOutput output = output_from(bundle, CellOutput::Kind::Display);
        output.display_id = display_id;
        if (update) {
            bool found = false;
            for (auto& existing : outputs_) {
                if (existing.kind == CellOutput::Kind::Display && existing.display_id == display_id &&
                    !display_id.empty()) {
                    existing.data = output.data;
                    existing.metadata = output.metadata;
                    found = true;
                }
            }
            if (!found) updates_.push_back(std::move(output));
            return;
        }
        before_output();
        if (live_) live_(output);
        outputs_.push_back(std::move(output));
    }
    void result(const rbridge::MimeBundle& bundle) override {
        before_output();
        CellOutput output = output_from(bundle, CellOutput::Kind::Result);
        if (live_) live_(output);
        outputs_.push_back(std::move(output));
    }
    void error(const rbridge::ErrorInfo& error) override {
        before_output();
        CellOutput output = CellOutput::error(error.ename, error.evalue, error.traceback);
        if (live_) live_(output);
        outputs_.push_back(std::move(output));
    }
    void clear_output(bool wait) override {
        if (wait) clear_pending_ = true;
        else outputs_.clear();
    }
    void page(const rbridge::MimeBundle&) override {} // help pages go to a pager, which a file has not

private:
    void before_output() {
        if (clear_pending_) outputs_.clear();
        clear_pending_ = false;
    }
    std::vector<CellOutput>& outputs_;
    std::vector<CellOutput>& updates_;
    const std::function<void(const CellOutput&)>& live_;
    bool clear_pending_ = false;
};

} // namespace

// rbridge::RunOutputs for run-notebook: each run of a request (the requested cell, cells run on its behalf)
// is recorded under its cell id; a chunk of a document is handed to knitr when it runs.
class EngineSession::Recorder final : public rbridge::RunOutputs {
public:
    Recorder(rbridge::CellEvaluator& evaluator, std::function<void(const CellOutput&)> live)
            : evaluator_(evaluator), live_(std::move(live)) {}

    void begin_request(bool logged) {
        runs_.clear();
        updates_.clear();
        logged_ = logged;
    }
    void set_knit(const std::string& id, std::optional<KnitChunk> knit) {
        if (knit) knits_[id] = std::move(*knit);
        else knits_.erase(id);
    }

    rbridge::OutputSink& open(const dag::RunContext& context) override {
        // After the engine restored the state, just before the cell runs (or is served from the cache: then close()
        // takes the request back, since nothing ran).
        if (auto knit = knits_.find(context.cell_id); knit != knits_.end())
            evaluator_.knit_next_cell(knit->second.request);
        std::vector<CellOutput>& outputs = runs_[context.cell_id];
        outputs.clear();
        sink_ = std::make_unique<RecordingSink>(outputs, updates_, context.requested && logged_ ? live_ : no_live_);
        return *sink_;
    }
    void close(const dag::RunContext&, rbridge::EvalStatus) override {
        evaluator_.knit_next_cell(std::string());
        sink_.reset();
    }

    std::vector<CellOutput> take(const std::string& id) {
        auto found = runs_.find(id);
        if (found == runs_.end()) return {};
        return std::move(found->second);
    }
    std::vector<CellOutput> take_updates() { return std::move(updates_); }

private:
    rbridge::CellEvaluator& evaluator_;
    std::function<void(const CellOutput&)> live_;
    std::function<void(const CellOutput&)> no_live_;
    std::map<std::string, std::vector<CellOutput>> runs_;
    std::vector<CellOutput> updates_;
    std::map<std::string, KnitChunk> knits_;
    std::unique_ptr<RecordingSink> sink_;
    bool logged_ = true;
};

// Interrupts a request that runs past its deadline, again every 200 ms while it has not stopped (R honours an
// interrupt only while user code runs), and gives up on it after a grace period (on_stuck ends the process).
class EngineSession::Watchdog {
public:
    Watchdog(double timeout_seconds, std::function<void()> on_stuck)
            : timeout_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                  std::chrono::duration<double>(timeout_seconds))),
              on_stuck_(std::move(on_stuck)), thread_([this] { loop(); }) {}
    ~Watchdog() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            quit_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

    void arm() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            armed_ = true;
            fired_ = false;
            ++generation_;
            deadline_ = std::chrono::steady_clock::now() + timeout_;
        }
        wake_.notify_all();
    }
    // Returns true when the deadline passed during this request.
    bool disarm() {
        std::lock_guard<std::mutex> lock(mutex_);
        armed_ = false;
        ++generation_;
        wake_.notify_all();
        return fired_;
    }

private:
    void loop() {
        using namespace std::chrono_literals;
        std::unique_lock<std::mutex> lock(mutex_);
        while (!quit_) {
            if (!armed_) {
                wake_.wait(lock);
                continue;
            }
            std::uint64_t generation = generation_;
            auto changed = [&] { return quit_ || !armed_ || generation_ != generation; };
            if (wake_.wait_until(lock, deadline_, changed)) continue;
            fired_ = true;
            auto give_up = std::chrono::steady_clock::now() + kGrace;
            while (!changed() && std::chrono::steady_clock::now() < give_up) {
                rbridge::RSession::request_interrupt();
                wake_.wait_for(lock, 200ms, changed);
            }
            if (!changed() && on_stuck_) {
                lock.unlock();
                on_stuck_(); // does not return
                lock.lock();
            }
        }
    }

    static constexpr std::chrono::seconds kGrace{10};
    std::chrono::steady_clock::duration timeout_;
    std::function<void()> on_stuck_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool armed_ = false, fired_ = false, quit_ = false;
    std::uint64_t generation_ = 0;
    std::chrono::steady_clock::time_point deadline_{};
    std::thread thread_; // last: starts once everything above exists
};

struct EngineSession::Engine {
    rbridge::CellEvaluator evaluator;
    std::unique_ptr<rbridge::EngineRuntime> runtime;
    std::unique_ptr<dag::Engine> engine;
};

// The persistent cache (SPEC section 5), opened before R starts: a run it can serve whole never starts R.
struct EngineSession::Cache {
    std::unique_ptr<dag::CacheStore> store;
    std::unique_ptr<dag::StoreExecutionCache> cache;               // the engine's (and the replay chain's) view of it
    std::unique_ptr<dag::ReplayChain> chain;                       // while intact: cells are served without R
    std::vector<dag::CacheStore::CellKeyRecord> unremembered_keys; // for `why`; EngineSession::remember_keys
};

// A cell the replay chain served before R started: the engine runs it (from the cache) once R is up.
struct EngineSession::Replayed {
    std::string id, code;
    std::optional<KnitChunk> knit;
    bool from_entry = false;    // served from a cache entry (else a recorded step: library(), options(), which rerun)
    bool binds_nothing = false; // its entry bound and removed no name (ReplayChain::Served)
};

namespace {

// How knitr shows a chunk (its options, source, the carried opts_chunk) is part of its cache key (SPEC section 5) and
// of its replay request.
std::map<std::string, std::string> knit_request_options(const std::optional<KnitChunk>& knit) {
    if (!knit) return {};
    return {{"knitr chunk", knit->request}};
}

} // namespace

EngineSession::EngineSession(SessionSettings settings) : settings_(std::move(settings)) {
    install_stop_handlers();
    cache_ = std::make_unique<Cache>();
    if (settings_.cache.enabled) {
        // A directory that cannot be used is one warning from the store and a run without the cache, never a
        // failed run.
        dag::CacheStoreOptions options;
        options.directory = settings_.cache.dir;
        options.on_warning = [warn = settings_.cache_warning](const std::string& line) {
            if (warn) warn(line);
            else std::cerr << line << '\n';
        };
        options.remote = dag::RemoteCacheSettings::from_environment(options.on_warning);
        options.max_bytes = dag::CacheStore::size_limit_from_environment(
            dag::CacheStore::resolve_directory(options.directory), options.on_warning);
        cache_->store = std::make_unique<dag::CacheStore>(std::move(options));
        if (cache_->store->usable()) {
            cache_->cache = std::make_unique<dag::StoreExecutionCache>(*cache_->store);
            std::error_code ec;
            cache_->chain = std::make_unique<dag::ReplayChain>(
                *cache_->cache, rbridge::session_origin(settings_.r_library, fs::current_path(ec)));
        } else {
            cache_->store.reset();
        }
    }
    // Without a chain to follow (no cache, --force) R is needed for the first cell anyway.
    if (!replaying()) start_r();
    if (settings_.timeout_seconds)
        watchdog_ = std::make_unique<Watchdog>(*settings_.timeout_seconds, settings_.on_stuck);
}

EngineSession::~EngineSession() {
    watchdog_.reset();
    if (engine_) {
        // Large values forked children are still writing reach the cache before it closes.
        if (engine_->engine) engine_->engine->finish_background_writes();
        engine_->engine.reset();
        engine_->runtime.reset();
    }
    if (cache_) {
        cache_->chain.reset();
        cache_->cache.reset();
        cache_->store.reset();
    }
}

bool EngineSession::replaying() const {
    return !engine_ && cache_->chain && cache_->chain->intact() && !settings_.cache.force && !dry_run_;
}

void EngineSession::start_r() {
    if (engine_) return;
    const auto starting = std::chrono::steady_clock::now();
    try {
        rbridge::RSession::start({settings_.r_library.string(), true});
    } catch (const std::exception& e) {
        throw RStartError(e.what());
    }
    r_start_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - starting).count();
    engine_ = std::make_unique<Engine>();
    recorder_ = std::make_unique<Recorder>(engine_->evaluator, settings_.live_output);
    engine_->runtime = std::make_unique<rbridge::EngineRuntime>(engine_->evaluator, *recorder_);
    engine_->engine = std::make_unique<dag::Engine>(*engine_->runtime);
    if (cache_->cache) {
        // --force: every cell runs, and its entry is written again.
        engine_->engine->set_cache(cache_->cache.get(),
                                   settings_.cache.force ? dag::CacheUse::WriteOnly : dag::CacheUse::ReadWrite);
        engine_->runtime->enable_cache_support(true);
        engine_->engine->set_replay_steps(cache_->chain && cache_->chain->intact());
    }
    // The cells the chain served: the engine serves them again (values restored from the cache, outputs already
    // shown), so the session is where the document is. A cell served from an entry that bound no name (a summary, a
    // plot, a printed value) is left out: serving it again would change nothing in R, and no later cell can read
    // from it, since it defines nothing (options, the working directory and the search path are never in an entry).
    // The engine does not know it then, which a run that executes each cell once in order never asks about.
    std::vector<Replayed> replayed = std::move(replayed_);
    replayed_.clear();
    catching_up_ = true; // the chain is already past these cells
    for (const auto& cell : replayed) {
        if (cell.from_entry && cell.binds_nothing) continue;
        CellRun again = run(cell.id, cell.code, cell.knit, false);
        if (cell.from_entry && !again.from_cache) {
            std::string line = "ripple cache: [" + cell.id +
                               "] was shown from the cache but had to run again to rebuild "
                               "the session (its cache entry changed meanwhile); its outputs are the cached ones.";
            if (settings_.cache_warning) settings_.cache_warning(line);
            else std::cerr << line << '\n';
        }
    }
    catching_up_ = false;
    remember_keys();
}

void EngineSession::remember_keys() {
    if (cache_->store) cache_->store->remember_cell_keys(cache_->unremembered_keys);
    cache_->unremembered_keys.clear();
}

bool EngineSession::r_started() const { return engine_ != nullptr; }

std::optional<double> EngineSession::r_start_seconds() const {
    if (!engine_) return std::nullopt;
    return r_start_seconds_;
}

// An artifact is an entry of the store like a cell's run: its one value is the bytes, so gc and stats treat it alike.
std::optional<std::string> EngineSession::cached_artifact(const std::string& key) {
    if (!cache_->store || settings_.cache.force) return std::nullopt;
    std::optional<dag::CacheEntry> entry = cache_->store->lookup(key);
    if (!entry) return std::nullopt;
    auto value = entry->values.find("artifact");
    if (value == entry->values.end()) return std::nullopt;
    return cache_->store->load_value(value->second);
}

void EngineSession::store_artifact(const std::string& key, const std::string& bytes, const std::string& what) {
    if (!cache_->store) return;
    const std::string hash = dag::sha256_hex(bytes);
    if (!cache_->store->put_value(hash, bytes)) return;
    dag::CacheEntry entry;
    entry.key = key;
    entry.values["artifact"] = hash;
    entry.key_parts_json = nlohmann::json{{"artifact", what}}.dump();
    cache_->store->store(entry);
}

bool EngineSession::cache_available() const { return cache_->store != nullptr; }

fs::path EngineSession::cache_directory() const {
    return cache_->store ? cache_->store->directory() : settings_.cache.dir;
}

void EngineSession::start_dry_run(const std::string& scope) {
    if (!cache_available()) throw std::logic_error("a dry run needs the persistent cache");
    dry_run_ = true;
    start_r();
    if (cache_->chain) cache_->chain->stop();
    dag::CacheStore* store = cache_->store.get();
    engine_->engine->set_dry_run([store, scope](const std::string& id) { return store->last_cell_key(scope, id); });
}

CellRun EngineSession::replay(const std::string& id, const std::string& code, const std::optional<KnitChunk>& knit,
                              const dag::ReplayChain::Served& served, bool logged) {
    auto started = std::chrono::steady_clock::now();
    CellRun run;
    std::vector<CellOutput> updates; // a step never has any (the engine makes no step of such a run)
    std::function<void(const CellOutput&)> no_live;
    RecordingSink sink(run.outputs, updates, logged ? settings_.live_output : no_live);
    nlohmann::json parsed = nlohmann::json::parse(served.outputs, nullptr, false);
    if (!rbridge::replay(parsed, sink)) return run; // unreadable: not served (the caller starts R)
    run.from_cache = true;
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    replayed_.push_back({id, code, knit, served.from_entry, served.binds_nothing});
    return run;
}

CellRun EngineSession::run(const std::optional<std::string>& id, const std::string& code, std::optional<KnitChunk> knit,
                           bool logged) {
    const std::map<std::string, std::string> options = knit_request_options(knit);
    if (id && replaying()) {
        if (std::optional<dag::ReplayChain::Served> served = cache_->chain->advance(code, options)) {
            CellRun run = replay(*id, code, knit, *served, logged);
            if (run.from_cache) return run;
            cache_->chain->stop();
        }
    }
    start_r();
    recorder_->begin_request(logged);
    if (id) recorder_->set_knit(*id, knit);
    dag::CellRequest request{code, id, {}, options};
    auto started = std::chrono::steady_clock::now();
    if (watchdog_) watchdog_->arm();
    dag::ExecutionReport report;
    try {
        report = engine_->engine->execute(request);
    } catch (...) {
        if (watchdog_) watchdog_->disarm();
        throw;
    }
    bool fired = watchdog_ ? watchdog_->disarm() : false;
    CellRun run;
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    run.outputs = recorder_->take(id.value_or(""));
    for (const auto& other : report.ran_before) run.also_ran.emplace_back(other, recorder_->take(other));
    for (const auto& other : report.reran_after) run.also_ran.emplace_back(other, recorder_->take(other));
    run.display_updates = recorder_->take_updates();
    run.notices = report.notices;
    run.interrupted = report.interrupted;
    run.from_cache =
        id && std::find(report.from_cache.begin(), report.from_cache.end(), *id) != report.from_cache.end();
    run.failed = report.requested_failed || report.interrupted;
    run.timed_out = fired && report.interrupted;
    if (dry_run_) {
        run.would_run = std::move(report.would_run);
        run.served_from_cache = report.from_cache;
    } else if (cache_->store && id) {
        // For `why`: the key of each cell that ran well, under the document's path (a failed run is not
        // remembered, so `why` compares with the last good one).
        std::vector<std::string> ran = report.ran_before;
        ran.push_back(*id);
        ran.insert(ran.end(), report.reran_after.begin(), report.reran_after.end());
        for (const auto& cell : ran) {
            const dag::Execution* execution = engine_->engine->last_execution(cell);
            std::optional<dag::CacheKey> key = engine_->engine->last_key(cell);
            if (execution == nullptr || execution->failed || !key) continue;
            for (const auto& scope : settings_.cache_scopes) cache_->unremembered_keys.push_back({scope, cell, *key});
        }
        // One transaction per request, or one for the whole catch-up.
        if (!catching_up_) remember_keys();
    }
    if (cache_->chain && cache_->chain->intact() && !dry_run_ && !catching_up_) {
        // The next run may follow this one without R only if it was this cell alone and a step.
        bool alone = report.ran_before.empty() && report.reran_after.empty() && report.notices.empty() &&
                     run.display_updates.empty();
        if (!id || !alone) cache_->chain->stop();
        else cache_->chain->extend(code, options, engine_->engine->replay_step(*id));
    }
    return run;
}

CellRun EngineSession::run_cell(const std::string& id, const std::string& code, std::optional<KnitChunk> knit,
                                bool logged) {
    return run(id, code, std::move(knit), logged);
}

CellRun EngineSession::run_untracked(const std::string& code) { return run(std::nullopt, code, std::nullopt, false); }

bool EngineSession::is_complete(const std::string& code) {
    if (code.find_first_not_of(" \t\r\n") == std::string::npos) return false;
    if (!engine_ && parse_r_literal(code)) return true; // a literal is complete: no need to start R to know
    start_r();
    return engine_->evaluator.check_completeness(code) == rbridge::CodeCompleteness::Complete;
}

std::string EngineSession::label(const std::string& id) const { return engine_ ? engine_->engine->label(id) : id; }

std::string EngineSession::r_version() const {
    return engine_ ? rbridge::RSession::get().r_version() : rbridge::linked_r_version();
}

fs::path EngineSession::default_r_library() {
    if (const char* env = std::getenv("RIPPLE_R_LIBRARY"); env != nullptr && *env != '\0') return env;
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        fs::path installed = exe.parent_path().parent_path() / "lib" / "ripple" / "R-library";
        if (fs::exists(installed / "ripple", ec)) return installed;
    }
    return fs::path(RIPPLE_BUILD_R_LIBRARY);
}

void EngineSession::install_stop_handlers() {
    struct sigaction action {};
    action.sa_handler = &on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
}

int EngineSession::stop_signal() { return g_stop_signal.load(); }

} // namespace ripple::cli
