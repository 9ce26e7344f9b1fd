// engine.hpp: the no-hidden-state engine: per-cell executions, reaching definitions, staleness, reruns (SPEC 2-4).
// Pure C++: must not know about R headers, Jupyter or sockets; it reaches R only through dag::CellRuntime.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dag/cache_key.hpp"
#include "dag/cell_runtime.hpp"
#include "dag/execution_cache.hpp"
#include "dag/file_digests.hpp"
#include "dag/notebook_order.hpp"
#include "dag/reason.hpp"
#include "dag/replay_chain.hpp"

namespace ripple::dag {

enum class EngineMode { Reactive, Lazy };

// A symbol's version at a point of the document: the ValueId bound by its reaching definition,
// a token for names exported by an attached package, or kUnbound.
using Version = std::uint64_t;

// What one cell execution produced and what it read: the basis of every staleness decision.
struct Execution {
    std::string code;
    std::set<std::string> uses;
    std::map<std::string, Version> inputs;   // version of each use when it ran
    std::map<std::string, ValueId> outputs;  // symbols it bound (kUnbound: removed)
    std::set<std::string> attached;          // packages it attached (their exports are soft definitions)
    std::map<std::string, std::string> files; // literal paths it read -> content hash then ("missing")
    bool failed = false;
    std::uint64_t serial = 0;                // order of executions, for display only
};

// Why a cell is stale, in words a user understands.
struct Staleness {
    bool stale = false;
    bool never_ran = false;
    bool edited = false;                     // code differs from what ran
    std::set<std::string> changed;           // uses whose reaching value changed
    std::set<std::string> stale_upstream;    // ids of stale cells it depends on
    std::vector<Reason> reasons;             // the same, as recorded where each was found (worded by describe_all)
};

struct EdgeInfo {
    std::string from, to;                    // cell ids, from defines what to uses
    std::set<std::string> symbols;
};

struct ExecutionReport {
    bool requested_failed = false;
    bool interrupted = false;
    std::vector<std::string> ran_before;     // upstream cells run first (stale or never run)
    std::vector<std::string> reran_after;    // dependents rerun (reactive mode)
    std::vector<std::string> marked_stale;   // dependents left stale (lazy mode)
    std::map<std::string, std::set<std::string>> reasons;  // cell id -> changed symbols
    std::vector<std::string> removed_cells;  // deleted by this request
    std::vector<std::string> notices;        // one-line notices for the user (opaque state)
    std::vector<std::string> from_cache;     // cells whose run was served by the cache (outputs replayed)
    // Dry run only: cells that would have to run, in order, each with why (one sentence per reason).
    std::vector<std::pair<std::string, std::vector<std::string>>> would_run;
};

// A cell's own cache choice, from a `#| cache: true|false` line at its top (knitr/Quarto style).
enum class CellCacheChoice { Default, Always, Never };
CellCacheChoice cell_cache_choice(const std::string& code);

class Engine {
public:
    explicit Engine(CellRuntime& runtime) : runtime_(runtime) {}
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Runs a request: a tracked cell (with id) with its upstream and dependents, or an anonymous one
    // against the state at the end of the document.
    ExecutionReport execute(const CellRequest& request, int execution_count = 0);
    // A front end's full view of the notebook (order, code, deletions); reruns what became stale.
    ExecutionReport sync_notebook(std::vector<Cell> cells);

    // The persistent cache of executions (nullptr or CacheUse::Off: none). Not owned.
    void set_cache(ExecutionCache* cache, CacheUse use) { cache_ = cache; cache_use_ = cache ? use : CacheUse::Off; }
    // The key of a cell's last execution (nullopt: it did not run, or could not be cached).
    std::optional<CacheKey> last_key(const std::string& id) const;
    // Dry run (`run-notebook why`): nothing runs. A cell whose key is in the cache is served from it as
    // usual (values restored, outputs replayed), so cells below see its values; a cell that misses is
    // reported in ExecutionReport::would_run with why (the key parts that differ from previous_key(id),
    // or that it reads a name a cell above recomputes), and so is every cell reading what it defines.
    // An empty function turns the dry run off.
    using PreviousKey = std::function<std::optional<CacheKey>(const std::string& id)>;
    void set_dry_run(PreviousKey previous_key) {
        dry_run_ = std::move(previous_key);
        dry_poisoned_.clear();
        dry_reported_.clear();
    }

    // Replay steps (dag/replay_chain.hpp) for a front door that may serve a later run without R: from now on the
    // engine notes for each run whether it is a step (served or stored by the cache, or reproducible and recorded).
    void set_replay_steps(bool on) { replay_steps_ = on; }
    // The step of the cell's last run, with the package files it depends on (asks the runtime); nullopt if that run
    // was not one (it failed, is volatile, changed the directory, read a value without content, ...).
    std::optional<ReplayStep> replay_step(const std::string& id);

    void set_mode(EngineMode mode) { mode_ = mode; }
    EngineMode mode() const { return mode_; }

    const NotebookOrder& order() const { return order_; }
    const Execution* last_execution(const std::string& id) const;
    Staleness staleness(const std::string& id) const;
    std::vector<EdgeInfo> edges() const;
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
    const CellAnalysis& analysis_of(const std::string& code);
    std::optional<size_t> position(const std::string& id) const { return order_.position(id); }
    std::map<std::string, ValueId> state_before(size_t position) const;
    Version version_before(size_t position, const std::string& symbol) const;
    std::optional<size_t> reaching_definition(size_t position, const std::string& symbol) const;
    bool defines(size_t position, const std::string& symbol) const;
    Staleness direct_staleness(size_t position) const;
    Staleness direct_staleness(size_t position, const std::function<Version(const std::string&)>& version_of) const;
    class ForwardVersions;
    std::vector<std::string> upstream_plan(const std::string& id) const;
    const std::set<std::string>& exports_of(const std::string& package) const;

    void run_cell(const std::string& id, const RunContext& context, ExecutionReport& report);
    std::optional<std::string> package_exporting(size_t position, const std::string& symbol) const;
    std::optional<CacheKey> cache_key_for(size_t position, const std::string& id, const CellAnalysis& analysis,
                                          const std::string& code,
                                          const std::set<std::string>& uses, const std::map<std::string, ValueId>& state);
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
    static bool may_record_step(const std::string& code, const CellAnalysis& analysis);
    static std::optional<Reason> uncacheable_reason(const std::string& code, const CellAnalysis& analysis);
    static Reason why_no_key(const std::string& code, const CellAnalysis& analysis);
    static std::set<std::string> packages_in(const CacheKey& key);
    std::optional<ReplayStep> recorded_step(size_t position, const RunOutcome& outcome, const std::set<std::string>& uses,
                                            const std::map<std::string, ValueId>& state);
    std::string seed_hash(const std::map<std::string, ValueId>& state);
    void rerun_stale(const std::string& except, ExecutionReport& report);
    void forget(const std::string& id);
    void release_outputs(const Execution& execution);

    CellRuntime& runtime_;
    NotebookOrder order_;
    EngineMode mode_ = EngineMode::Reactive;
    std::map<std::string, Execution> executions_;  // by cell id
    std::map<std::string, CellAnalysis> analyses_; // by code
    std::set<std::string> tracked_;                 // every symbol some tracked execution bound
    std::set<ValueId> spoiled_;                     // opaque values a later cell changed in place
    mutable std::map<std::string, std::set<std::string>> exports_;
    std::uint64_t serial_ = 0;
    ExecutionCache* cache_ = nullptr;
    CacheUse cache_use_ = CacheUse::Off;
    std::map<std::string, CacheKey> last_keys_;     // by cell id
    std::map<std::string, std::map<std::string, std::string>> options_;  // by cell id: its evaluation options
    mutable FileDigests file_digests_;                    // files cells read (the process's working directory is R's); a cache
    PreviousKey dry_run_;                                  // set: a dry run
    std::map<std::string, std::string> dry_poisoned_;     // dry run: symbol -> id of the cell that would recompute it
    std::set<std::string> dry_reported_;                  // dry run: cells already reported as would-run
    bool replay_steps_ = false;
    std::map<std::string, ReplayStep> replay_steps_by_id_;  // by cell id: its last run as a replay step
    std::string served_identity_;                           // execution_identity() of the entry just served
};

} // namespace ripple::dag
