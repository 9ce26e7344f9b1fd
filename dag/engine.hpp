// engine.hpp: the no-hidden-state engine: per-cell executions, reaching definitions, staleness, reruns (SPEC 2-4).
// Pure C++: must not know about R headers, Jupyter or sockets; it reaches R only through dag::CellRuntime.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "dag/cache_key.hpp"
#include "dag/cell_runtime.hpp"
#include "dag/dependency_scan.hpp"
#include "dag/dry_run.hpp"
#include "dag/execution.hpp"
#include "dag/execution_cache.hpp"
#include "dag/notebook_order.hpp"
#include "dag/reason.hpp"
#include "dag/replay_chain.hpp"
#include "dag/replay_step_recorder.hpp"
#include "dag/run_planner.hpp"
#include "dag/value_store.hpp"

namespace ripple::dag {

// A cell's own cache choice, from a `#| cache: true|false` line at its top (knitr/Quarto style).
enum class CellCacheChoice { Default, Always, Never };
CellCacheChoice cell_cache_choice(const std::string& code);

// The engine's rooms: DependencyScan decides staleness, RunPlanner what runs first, Engine runs (run_cell's
// steps, engine.cpp) and keeps the cache policy (engine_cache.cpp); DryRun and ReplayStepRecorder keep their state.
class Engine {
public:
    explicit Engine(CellRuntime& runtime);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Runs a request: a tracked cell (with id) with its upstream and dependents, or an anonymous one
    // against the state at the end of the document.
    ExecutionReport execute(const CellRequest& request, int execution_count = 0);
    // A front end's full view of the notebook (order, code, deletions); reruns what became stale.
    ExecutionReport sync_notebook(std::vector<Cell> cells);

    // The persistent cache of executions (nullptr or CacheUse::Off: none). Not owned.
    void set_cache(ExecutionCache* cache, CacheUse use) {
        cache_ = cache;
        cache_use_ = cache ? use : CacheUse::Off;
        values_.set_cache(cache_use_ == CacheUse::Off ? nullptr : cache);
    }
    // Large values still being written to the cache by forked children: waits for them and stores their entries.
    // A front door calls it before the cache goes away (the end of a run, a kernel's shutdown); requests do it
    // for the writes that finished meanwhile.
    void finish_background_writes() { values_.complete_writes(true); }
    void poll_background_writes() { values_.complete_writes(false); }
    // The value store's settings (dag/value_store.hpp): read from the environment at construction.
    void set_value_store_settings(const ValueStoreSettings& settings) { values_.set_settings(settings); }
    // The key of a cell's last execution (nullopt: it did not run, or could not be cached).
    std::optional<CacheKey> last_key(const std::string& id) const;
    // Dry run (`run-notebook why`): nothing runs. A cell whose key is in the cache is served from it as
    // usual (values restored, outputs replayed), so cells below see its values; a cell that misses is
    // reported in ExecutionReport::would_run with why (the key parts that differ from previous_key(id),
    // or that it reads a name a cell above recomputes), and so is every cell reading what it defines.
    // An empty function turns the dry run off.
    using PreviousKey = DryRun::PreviousKey;
    void set_dry_run(PreviousKey previous_key) { dry_run_.start(std::move(previous_key)); }

    // Replay steps (dag/replay_chain.hpp) for a front door that may serve a later run without R: from now on the
    // engine notes for each run whether it is a step (served or stored by the cache, or reproducible and recorded).
    void set_replay_steps(bool on) { replay_.set_on(on); }
    // The step of the cell's last run, with the package files it depends on (asks the runtime); nullopt if that run
    // was not one (it failed, is volatile, changed the directory, read a value without content, ...).
    std::optional<ReplayStep> replay_step(const std::string& id) { return replay_.step(id, runtime_); }

    void set_mode(EngineMode mode) { mode_ = mode; }
    EngineMode mode() const { return mode_; }

    const NotebookOrder& order() const { return order_; }
    const Execution* last_execution(const std::string& id) const { return scan_.last_execution(id); }
    Staleness staleness(const std::string& id) const;
    std::vector<EdgeInfo> edges() const { return scan_.edges(); }
    // One or two sentences: is the cell up to date, and if not, why.
    std::string why(const std::string& id) const;
    // With a cache: would running the cell now be served from it, and if not, which part of its key
    // changed since its last run ("the value of `df` changed"). Empty without a cache or a last key.
    std::string why_cache(const std::string& id);
    // A short label for messages: the cell's first line of code, shortened.
    std::string label(const std::string& id) const;
    // How a sentence names a cell: its label in brackets ("[x <- 1]").
    CellNamer cell_namer() const;

private:
    struct CellRun; // one run of one cell as run_cell's steps fill it in (engine.cpp)

    const CellAnalysis& analysis_of(const std::string& code);
    std::optional<size_t> position(const std::string& id) const { return order_.position(id); }

    // --- Running (engine.cpp): run_cell and its steps, in the order it takes them. ---
    void run_cell(const std::string& id, const RunContext& context, ExecutionReport& report);
    void run_unparsed(const CellRun& run, ExecutionReport& report);
    void rebuild_spoiled_inputs(const CellRun& run, ExecutionReport& report);
    void rebuild_spoiled_at_end(ExecutionReport& report);
    std::shared_ptr<const DependencyScan::State> restore_state(size_t at);
    void restore_state_and_find_reads(CellRun& run);
    void find_key(CellRun& run);
    void report_would_run(const CellRun& run, ExecutionReport& report);
    void run_or_serve(CellRun& run, ExecutionReport& report);
    void learn_reads_from_run(CellRun& run);
    Execution execution_of(CellRun& run);
    void store_and_note_step(CellRun& run, const Execution& execution);
    void keep_execution(const std::string& id, Execution execution, bool content_known);
    void rerun_stale(const std::string& except, ExecutionReport& report);
    // --- Large values (value_store.hpp): evicted ones brought back before a restore, others evicted after a run. ---
    void bring_back_values(size_t at, ExecutionReport& report, const std::set<std::string>* needed);
    void evict_values(size_t ran_at);
    void load_inputs(CellRun& run, ExecutionReport& report);
    void release_value(ValueId value);
    void say_value_warnings(ExecutionReport& report);
    void forget(const std::string& id);
    void release_outputs(const Execution& execution);

    // --- Cache policy (engine_cache.cpp): keys before a run, serving, storing, explaining. ---
    std::optional<CacheKey> cache_key_for(size_t position, const std::string& id, const CellAnalysis& analysis,
                                          const std::string& code, const std::set<std::string>& uses,
                                          const std::map<std::string, ValueId>& state);
    bool add_use_part(CacheKey& key, size_t position, const std::string& symbol,
                      const std::map<std::string, ValueId>& state);
    std::vector<std::string> key_changes(const CacheKey& previous, CacheKey now, size_t position,
                                         const std::map<std::string, ValueId>& state);
    std::optional<RunOutcome> serve_from_cache(size_t position, const CacheKey& key,
                                               const std::map<std::string, ValueId>& state, const RunContext& context);
    // The stored entry's execution_identity() when replay steps are on ("" when off); nullopt if not stored.
    std::optional<std::string> store_in_cache(CacheKey key, size_t position, const RunOutcome& outcome,
                                              const std::set<std::string>& uses,
                                              const std::map<std::string, ValueId>& state, double seconds);
    static std::optional<Reason> uncacheable_reason(const std::string& code, const CellAnalysis& analysis);
    static Reason why_no_key(const std::string& code, const CellAnalysis& analysis);
    static std::optional<Reason> uncacheable_run_reason(const Execution& execution);
    std::optional<Reason> stored_outside_reason(const CacheKey& key);
    std::optional<ReplayStep> recorded_step(size_t position, const RunOutcome& outcome,
                                            const std::set<std::string>& uses,
                                            const std::map<std::string, ValueId>& state);
    std::string seed_hash(const std::map<std::string, ValueId>& state);

    CellRuntime& runtime_;
    NotebookOrder order_;
    EngineMode mode_ = EngineMode::Reactive;
    std::unordered_map<std::string, Execution> executions_; // by cell id
    std::uint64_t analysed_revision_ = ~std::uint64_t{0};   // order_.revision() when every cell's code was analysed
    std::map<std::string, CellAnalysis> analyses_;          // by code
    std::set<std::string> tracked_;                         // every symbol some tracked execution bound
    std::set<ValueId> spoiled_;                             // opaque values a later cell changed in place
    std::uint64_t serial_ = 0;
    ExecutionCache* cache_ = nullptr;
    CacheUse cache_use_ = CacheUse::Off;
    std::map<std::string, CacheKey> last_keys_;                         // by cell id
    std::map<std::string, std::map<std::string, std::string>> options_; // by cell id: its evaluation options
    DependencyScan scan_{order_, executions_, analyses_, runtime_};     // reads the four members above it
    std::optional<DependencyScan::StateMark> restored_mark_;            // the scan's memo at the last restore
    ValueStore values_{runtime_};
    std::vector<std::string> startup_notices_; // said with the first request's report
    std::vector<size_t> bringing_back_;        // positions bring_back_values is bringing values back for
    RunPlanner planner_{order_, scan_};
    DryRun dry_run_;
    ReplayStepRecorder replay_;
};

} // namespace ripple::dag
