// engine.cpp: the engine's request loop: plan what runs first, run each cell in named steps, then rerun (reactive)
// or mark (lazy) what became stale (SPEC 2-4). Staleness is DependencyScan's, the cache policy engine_cache.cpp's.
// Pure C++: must not know about R headers, Jupyter or sockets; it reaches R only through dag::CellRuntime.
//
// Design note. The engine keeps, per cell id, the Execution of the cell's last run; every decision below is
// made from those records and the notebook's order, never from what R happens to hold.
//
// (1) A Version is what a symbol is bound to at a point of the document: the ValueId its reaching definition
//     bound (ids are never reused, so equal versions mean the very same object), a package token for a name
//     exported by an attached package (depends on the package only), or kUnbound. Pseudo-symbols (@options,
//     @wd, @search) and .Random.seed are versioned like names.
// (2) The reaching definition of a symbol at a cell is the nearest cell above it whose last run bound it, or
//     whose parse says it will if it never ran or was edited. Document order, not run order: a cell sees what a
//     fresh top-to-bottom run would give it.
// (3) Before each run the runtime's global state is made exactly state_before(position) for every tracked
//     symbol (restore), so a cell never sees a later cell's bindings. The restore is told which symbols the cells
//     between the last restore's position and this one bound (DependencyScan::changed_since; nothing when a change
//     above made the scan recompute the state); the runtime adds what runs changed since and, unless R ran code no
//     watch saw, looks at nothing else, so a run down a 1000-cell chain costs the same per cell at every position.
// (4) A cell is stale when it never ran, its code differs from what ran, the version of an input before it
//     differs from the version recorded when it ran, a file it read has other content, or (lazy mode) a cell
//     it reads from is stale. DependencyScan alone decides this and records a Reason for each verdict; a
//     request runs the stale cells the requested one reads from first (RunPlanner), then the dependents.
// (5) Early cutoff: when a rerun produces a value with the same content hash as the value it replaces, the
//     old ValueId is kept, so its readers' recorded versions still match and they stay up to date. Content is
//     known only when the cache hashes values (keep_execution).
// (6) Spoiled values: an opaque value (an environment, a connection) cannot be snapshotted and code can change
//     it in place. A cell that touches one "redefines" it under a fresh id and the old id joins spoiled_; a
//     cell that reads a spoiled version first reruns the cell that defined it, with a notice.
// (7) A cell's cache key is made before it runs, from the state before it; reads learnt only by running (the
//     functions it calls, the RNG) join the stored key and are checked again before an entry is served.
// (8) Dry-run poisoning: in a dry run nothing runs. A cell that would run poisons the names it defines or
//     deletes; a cell below reading a poisoned name would run too (its key depends on a value nobody has), so
//     it is reported with ReadsRecomputed instead of a key comparison.
// (9) Files: the runtime reports the files a run opened, whatever named them. A read is an input (its content hash
//     after the run, in Execution::files, and a use of kFilePrefix + path); a write or removal defines
//     kFilePrefix + path, so the reaching writer of a file is an edge like a variable's. A run that reached outside
//     R (a socket, a program) or changed a file it read is never cached, with a notice for the former.
// (10) Large values (dag/value_store.hpp): a keyed run's large value is identified by its key, not by hashing it;
//     its bytes reach the cache from a forked child, or not at all when rerunning is cheaper than loading; a version
//     the document's end no longer binds may leave memory. Before a state is restored, such versions come back:
//     loaded, or rebuilt by running their cell again, whose unchanged key gives the value its old id (early cutoff).
#include "dag/engine.hpp"

#include <algorithm>
#include <chrono>
#include <memory>

namespace ripple::dag {

// One run of one cell as run_cell's steps fill it in, in the order they do.
struct Engine::CellRun {
    std::string id;
    size_t at = 0; // its position in the document
    std::string code;
    CellAnalysis analysis; // a copy: a rerun inside the run may clear analyses_
    RunContext context;
    std::shared_ptr<const DependencyScan::State> state; // the global state before it (restored before it runs)
    std::set<std::string> uses;               // what it reads: parsed, hidden, implicit, then learnt by running
    std::map<std::string, std::string> files; // literal paths it reads -> content hash before it runs
    std::vector<Reason> poisoned;             // dry run: reads of names a cell above would recompute
    std::optional<CacheKey> key;              // nullopt: not cacheable (or poisoned)
    std::optional<RunOutcome> cached;         // engaged when the cache served it
    RunOutcome outcome;
    double seconds = 0; // how long it ran (0 when served)
};

CellCacheChoice cell_cache_choice(const std::string& code) {
    // Only the leading `#|` lines count, as in knitr and Quarto.
    size_t at = 0;
    while (at < code.size()) {
        size_t end = code.find('\n', at);
        std::string line = code.substr(at, end == std::string::npos ? std::string::npos : end - at);
        at = end == std::string::npos ? code.size() : end + 1;
        size_t start = line.find_first_not_of(" \t\r");
        if (start == std::string::npos) continue;
        if (line.compare(start, 2, "#|") != 0) break;
        std::string option = line.substr(start + 2);
        option.erase(
            std::remove_if(option.begin(), option.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; }),
            option.end());
        if (option == "cache:true" || option == "cache=TRUE") return CellCacheChoice::Always;
        if (option == "cache:false" || option == "cache=FALSE") return CellCacheChoice::Never;
    }
    return CellCacheChoice::Default;
}

Engine::Engine(CellRuntime& runtime) : runtime_(runtime) {
    values_.set_settings(ValueStoreSettings::from_environment(startup_notices_));
    runtime_.set_value_loader([this](ValueId value) { return values_.bytes_of(value); });
}

Engine::~Engine() {
    for (const auto& [id, execution] : executions_) release_outputs(execution);
}

const CellAnalysis& Engine::analysis_of(const std::string& code) {
    auto found = analyses_.find(code);
    if (found != analyses_.end()) return found->second;
    if (analyses_.size() > 4096) analyses_.clear();
    return analyses_.emplace(code, runtime_.analyze(code)).first->second;
}

Staleness Engine::staleness(const std::string& id) const {
    auto at = position(id);
    if (!at) return Staleness{};
    return scan_.staleness(*at);
}

void Engine::release_outputs(const Execution& execution) {
    for (const auto& [symbol, value] : execution.outputs) {
        if (value != kUnbound) release_value(value);
    }
}

void Engine::release_value(ValueId value) {
    values_.forget(value);
    runtime_.release(value);
}

// Values the state before `at` binds that are not in memory come back before it is restored (design note 10): those in
// `needed` (nullptr: all) and those only a rerun can bring back, loaded from the cache or rebuilt by running the cell
// that bound them (upstream first, as that run brings back its own). The others are bound lazily by the restore: R
// loads them if something reads them.
void Engine::bring_back_values(size_t at, ExecutionReport& report, const std::set<std::string>* needed) {
    if (!values_.any_evicted()) return;
    bringing_back_.push_back(at); // what the state before `at` binds stays until that cell has run
    for (int round = 0; round < 3 && !report.interrupted; ++round) {
        bool missing = false;
        for (const auto& [symbol, value] : scan_.state_before(at)) {
            if (value == kUnbound || runtime_.resident(value)) continue;
            if (needed != nullptr && !needed->count(symbol) && values_.loadable(value)) continue;
            if (values_.load(value)) continue;
            missing = true;
            auto source = scan_.reaching_definition(at, symbol);
            if (!source || *source >= at) continue;
            const std::string source_id = order_.cells()[*source].id;
            run_cell(source_id, RunContext{source_id, false, 0}, report);
            report.reran_after.push_back(source_id);
            break; // the state before `at` may have changed: look again
        }
        if (!missing) break;
    }
    bringing_back_.pop_back();
}

// A cell about to run (not served) loads the values it reads now rather than through their promises, so that one the
// cache lost is rebuilt by rerunning its cell instead of failing inside this one (design note 10). A served cell never
// loads its inputs.
void Engine::load_inputs(CellRun& run, ExecutionReport& report) {
    if (!values_.any_evicted()) return;
    const bool reads_all = run.analysis.effects.count("globals") > 0 || run.analysis.deletes_all;
    bool lost = false;
    for (const auto& [symbol, value] : *run.state) {
        if (value == kUnbound || runtime_.resident(value) || (!reads_all && !run.uses.count(symbol))) continue;
        if (!values_.load(value)) lost = true;
    }
    if (!lost) return;
    bring_back_values(run.at, report, reads_all ? nullptr : &run.uses);
    restore_state_and_find_reads(run);
    find_key(run);
}

// Tracked large values that neither the document's end, nor the state after the cell that just ran (what R binds now,
// and what a rerun of the cell below reads), nor a cell waiting for values to come back binds leave memory beyond the
// budget (design note 10).
void Engine::evict_values(size_t ran_at) {
    if (!values_.holds_evictable()) return;
    std::set<ValueId> live;
    for (const auto& [symbol, value] : scan_.state_before(order_.cells().size())) live.insert(value);
    for (const auto& [symbol, value] : scan_.state_before(ran_at + 1)) live.insert(value);
    // A cell run to bring a value back for a cell below: what that cell is waiting for stays too.
    for (size_t waiting : bringing_back_) {
        for (const auto& [symbol, value] : scan_.state_before(waiting)) live.insert(value);
    }
    values_.evict_beyond_budget(live);
}

void Engine::say_value_warnings(ExecutionReport& report) {
    values_.complete_writes(false);
    for (auto& line : startup_notices_) report.notices.push_back(std::move(line));
    startup_notices_.clear();
    for (auto& line : values_.take_warnings()) report.notices.push_back(std::move(line));
}

void Engine::forget(const std::string& id) {
    auto found = executions_.find(id);
    if (found == executions_.end()) return;
    release_outputs(found->second);
    executions_.erase(found);
    last_keys_.erase(id);
    options_.erase(id);
}

void Engine::run_cell(const std::string& id, const RunContext& context, ExecutionReport& report) {
    auto at = position(id);
    if (!at) return;
    replay_.forget(id);
    CellRun run;
    run.id = id;
    run.at = *at;
    run.code = order_.cells()[*at].code;
    run.analysis = analysis_of(run.code);
    run.context = context;
    if (!run.analysis.parsed) return run_unparsed(run, report);
    rebuild_spoiled_inputs(run, report);
    // Values only a rerun can bring back come back now; those the cache holds are bound lazily (design note 10).
    const std::set<std::string> loadable_later;
    bring_back_values(run.at, report, &loadable_later);
    restore_state_and_find_reads(run);
    find_key(run);
    if (run.key && cache_use_ == CacheUse::ReadWrite)
        run.cached = serve_from_cache(run.at, *run.key, *run.state, context);
    if (dry_run_.active() && !run.cached) return report_would_run(run, report);
    if (!run.cached) load_inputs(run, report);
    run_or_serve(run, report);
    learn_reads_from_run(run);
    Execution execution = execution_of(run);
    store_and_note_step(run, execution);
    keep_execution(id, std::move(execution), run.key.has_value());
    evict_values(run.at);
    if (context.requested) report.requested_failed = run.outcome.failed;
    if (run.outcome.interrupted) report.interrupted = true;
}

// A parse error shows its message and changes nothing: the cell keeps its last good execution, so nothing
// below becomes stale.
void Engine::run_unparsed(const CellRun& run, ExecutionReport& report) {
    const std::set<std::string> nothing;
    bring_back_values(run.at, report, &nothing);
    restore_state(run.at);
    RunOutcome outcome = runtime_.run(run.code, run.context, {});
    if (run.context.requested) report.requested_failed = true;
    if (outcome.interrupted) report.interrupted = true;
}

// Opaque values (environments, ...) that a later run changed in place cannot be restored: rebuild them by
// rerunning the cell that defined them (design note 6).
void Engine::rebuild_spoiled_inputs(const CellRun& run, ExecutionReport& report) {
    for (const auto& symbol : run.analysis.uses) {
        if (spoiled_.empty()) break; // the usual case: no version to look up
        Version version = scan_.version_before(run.at, symbol);
        if (version == kUnbound || !spoiled_.count(version)) continue;
        auto source = scan_.reaching_definition(run.at, symbol);
        if (!source) continue;
        std::string source_id = order_.cells()[*source].id;
        report.notices.push_back("ripple: " + describe(Reason::opaque_rebuilt(symbol, source_id), cell_namer()));
        run_cell(source_id, RunContext{source_id, false, 0}, report);
        report.reran_after.push_back(source_id);
    }
}

// What the document's end binds is what the next request reads (a console line, the next cell): an opaque value there
// that a cell changed in place, which no cell redefines any more (that cell was edited or deleted), is rebuilt by
// rerunning its defining cell, and the cells that read it are brought up to date (design note 6). Reactive mode only:
// lazy mode runs nothing by itself.
void Engine::rebuild_spoiled_at_end(ExecutionReport& report) {
    if (spoiled_.empty() || mode_ == EngineMode::Lazy || report.interrupted) return;
    const size_t end = order_.cells().size();
    bool rebuilt = false;
    for (const auto& [symbol, value] : scan_.state_before(end)) {
        if (!spoiled_.count(value)) continue;
        auto source = scan_.reaching_definition(end, symbol);
        if (!source) continue;
        std::string source_id = order_.cells()[*source].id;
        report.notices.push_back("ripple: " + describe(Reason::opaque_rebuilt(symbol, source_id), cell_namer()));
        run_cell(source_id, RunContext{source_id, false, 0}, report);
        report.reran_after.push_back(source_id);
        rebuilt = true;
    }
    if (rebuilt) rerun_stale("", report);
}

// The state a fresh run has before `at` goes into the runtime (design note 3), which is told the symbols the cells
// since the last restore's position bound, so that a long notebook's restore touches what changed (issue 15).
std::shared_ptr<const DependencyScan::State> Engine::restore_state(size_t at) {
    std::shared_ptr<const DependencyScan::State> state = scan_.state_at(at);
    std::optional<std::set<std::string>> changed;
    if (restored_mark_) changed = scan_.changed_since(*restored_mark_);
    runtime_.restore(*state, tracked_, changed ? &*changed : nullptr);
    restored_mark_ = scan_.state_mark();
    return state;
}

// The state before the cell goes into the runtime (design note 3); what the cell reads before it runs: its parsed
// uses, the free variables of the functions it calls, what every cell reads, and the files it names.
void Engine::restore_state_and_find_reads(CellRun& run) {
    run.state = restore_state(run.at);
    run.uses = run.analysis.uses;
    std::set<std::string> known;
    for (const auto& symbol : run.analysis.uses) {
        if (run.state->count(symbol)) known.insert(symbol);
    }
    if (!known.empty()) {
        std::set<std::string> hidden = runtime_.closure_uses(known);
        run.uses.insert(hidden.begin(), hidden.end());
    }
    run.uses.insert(implicit_reads().begin(), implicit_reads().end());
    // library() reads the search path: whether it attaches anything depends on what is attached above.
    if (!run.analysis.attaches.empty() || run.analysis.effects.count("search")) run.uses.insert(kSearchSymbol);
    // ls(), get(name), eval() of computed code: any binding above may be what it reads.
    if (run.analysis.effects.count("globals")) run.uses.insert(kGlobalsSymbol);
    for (const auto& path : run.analysis.files) {
        run.files[path] = scan_.file_digest(path).value_or("missing");
        run.uses.insert(kFilePrefix + path);
    }
}

// The cell's cache key, unless a dry run poisoned a name it reads (design note 8).
void Engine::find_key(CellRun& run) {
    run.poisoned = dry_run_.poisoned_reads(run.uses);
    if (run.poisoned.empty()) run.key = cache_key_for(run.at, run.id, run.analysis, run.code, run.uses, *run.state);
}

// Dry run, and the cache did not serve the cell: why it would run instead.
void Engine::report_would_run(const CellRun& run, ExecutionReport& report) {
    std::vector<Reason> reasons = run.poisoned;
    const Execution* last = last_execution(run.id);
    std::optional<Reason> ran_outside = last ? uncacheable_run_reason(*last) : std::nullopt;
    if (!ran_outside && run.key) ran_outside = stored_outside_reason(*run.key);
    if (reasons.empty() && ran_outside) {
        reasons.push_back(*ran_outside);
    } else if (reasons.empty() && !run.key) {
        reasons.push_back(why_no_key(run.code, run.analysis));
    } else if (reasons.empty()) {
        std::optional<CacheKey> previous = dry_run_.previous_key(run.id);
        if (previous) {
            for (const auto& change : key_changes(*previous, *run.key, run.at, *run.state)) {
                reasons.push_back(Reason::key_part_changed(change));
            }
        }
        if (reasons.empty()) reasons.emplace_back(previous ? ReasonKind::NoMatchingEntry : ReasonKind::NotRunWithCache);
    }
    dry_run_.would_run(run.id, reasons, run.analysis, cell_namer(), report);
    if (const Execution* last = last_execution(run.id)) {
        for (const auto& path : last->files_written) dry_run_.poison(kFilePrefix + path, run.id);
    }
}

// The outcome: the served run, or a real one (its outputs recorded when the cache or a replay step may keep them).
void Engine::run_or_serve(CellRun& run, ExecutionReport& report) {
    if (run.cached) {
        run.outcome = std::move(*run.cached);
        report.from_cache.push_back(run.id);
    } else {
        RunContext recording = run.context;
        recording.record_outputs =
            run.key.has_value() || (replay_.on() && ReplayStepRecorder::may_record(run.code, run.analysis));
        auto started = std::chrono::steady_clock::now();
        run.outcome = runtime_.run(run.code, recording, run.analysis.defs);
        run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    }
    if (run.key) last_keys_[run.id] = *run.key;
    else last_keys_.erase(run.id);
    if (!run.outcome.outside.empty()) {
        report.notices.push_back("ripple: [" + label(run.id) +
                                 "]: " + describe(Reason::reaches_outside(run.outcome.outside), cell_namer()) + ".");
    }
}

// Reads only the run reveals: free variables of functions it defined and called, the incoming seed of a run that
// drew random numbers without seeding first, definitions left bound to the same object, rm() targets.
void Engine::learn_reads_from_run(CellRun& run) {
    const RunOutcome& outcome = run.outcome;
    // Functions the cell defines and may call (`f <- function(a) a + y; f(5)`) read their free variables.
    std::set<std::string> defined_here;
    for (const auto& symbol : run.analysis.defs) {
        if (!run.state->count(symbol) || outcome.bound.count(symbol)) defined_here.insert(symbol);
    }
    if (!defined_here.empty()) {
        for (const auto& symbol : runtime_.closure_uses(defined_here)) {
            if (!run.analysis.defs.count(symbol)) run.uses.insert(symbol);
        }
    }
    if (outcome.bound.count(kSeedSymbol) && !run.analysis.defs.count(kSeedSymbol)) run.uses.insert(kSeedSymbol);
    run.uses.insert(outcome.passed_through.begin(), outcome.passed_through.end());
    // rm(x) reads x (a missing x is a warning).
    run.uses.insert(run.analysis.deletes.begin(), run.analysis.deletes.end());
    // Files it was seen to open (design note 9): inputs with their content hash after the run (what it read, unless
    // it changed the file itself), and uses of kFilePrefix + path, so the cell above that wrote one is an edge.
    for (const auto& path : outcome.files_read) {
        run.files.emplace(path, scan_.file_digest(path).value_or("missing"));
        run.uses.insert(kFilePrefix + path);
    }
}

// The record of the run: what it bound and removed, what it read and each read's version before it.
Execution Engine::execution_of(CellRun& run) {
    const RunOutcome& outcome = run.outcome;
    Execution execution;
    execution.code = run.code;
    execution.failed = outcome.failed;
    execution.attached = outcome.attached_packages;
    execution.files = run.files;
    execution.files_written = outcome.files_written;
    execution.files_written.insert(outcome.files_appended.begin(), outcome.files_appended.end());
    execution.outside = outcome.outside;
    for (const auto& path : outcome.files_written) {
        if (outcome.files_read.count(path)) execution.rewritten_input = path;
    }
    execution.serial = ++serial_;
    execution.outputs = outcome.bound;
    for (const auto& symbol : outcome.removed) execution.outputs[symbol] = kUnbound;
    // rm(x) leaves x unbound, whether or not it was bound.
    for (const auto& symbol : run.analysis.deletes) {
        if (!execution.outputs.count(symbol) && !outcome.failed) execution.outputs[symbol] = kUnbound;
    }
    // Touching an opaque value counts as redefining it: its readers below must rerun (design note 6).
    for (const auto& symbol : run.uses) {
        auto bound = run.state->find(symbol);
        if (bound == run.state->end() || execution.outputs.count(symbol)) continue;
        if (runtime_.is_opaque(bound->second)) {
            execution.outputs[symbol] = runtime_.rehold(bound->second);
            spoiled_.insert(bound->second);
        }
    }
    execution.uses = run.uses;
    for (const auto& symbol : run.uses) execution.inputs[symbol] = scan_.version_before(run.at, symbol);
    return execution;
}

// A run that was not served goes into the cache when it has a key; with replay steps on, the run is noted as a
// step when the cache served or stored it, or when it is reproducible without a key (library(), options()).
void Engine::store_and_note_step(CellRun& run, const Execution& execution) {
    std::optional<std::string> stored;
    if (run.key && !run.cached)
        stored = store_in_cache(*run.key, run.at, run.outcome, run.uses, *run.state, run.seconds);
    if (!replay_.on()) return;
    const RunOutcome& outcome = run.outcome;
    if (run.cached || stored) {
        // A step serves the run without R only where the files it wrote still hold what it left (design note 9).
        std::map<std::string, std::string> files = execution.files;
        for (const auto& path : run.outcome.files_written) files[path] = scan_.file_digest(path).value_or("missing");
        replay_.keep_cached(run.id, *run.key, run.cached ? replay_.served_identity() : *stored, files);
    } else if (!run.key && !outcome.failed && !outcome.interrupted && !outcome.recorded_outputs.empty() &&
               outcome.files_written.empty() && outcome.outside.empty() &&
               ReplayStepRecorder::may_record(run.code, run.analysis) && !outcome.bound.count(kSeedSymbol)) {
        if (auto step = recorded_step(run.at, outcome, run.uses, *run.state)) {
            replay_.keep_recorded(run.id, std::move(*step), execution.files);
        }
    }
}

// The cell's new execution replaces its last one, whose values are released unless early cutoff keeps them
// (design note 5; `content_known`: the run had a key, so its values are hashed).
void Engine::keep_execution(const std::string& id, Execution execution, bool content_known) {
    for (const auto& [symbol, value] : execution.outputs) tracked_.insert(symbol);
    scan_.executed(id); // added or replaced in place below
    auto previous = executions_.find(id);
    if (previous == executions_.end()) {
        executions_.emplace(id, std::move(execution));
        return;
    }
    std::set<ValueId> kept;
    if (content_known) {
        for (auto& [symbol, value] : execution.outputs) {
            auto old = previous->second.outputs.find(symbol);
            if (value == kUnbound || old == previous->second.outputs.end() || old->second == kUnbound ||
                old->second == value || runtime_.is_opaque(old->second)) {
                continue;
            }
            // A large value is compared only by an identity known without hashing it (design note 10).
            bool cheap = (runtime_.value_hash_known(old->second) && runtime_.value_hash_known(value)) ||
                         (!values_.large_size(old->second) && !values_.large_size(value));
            std::optional<std::string> before = cheap ? runtime_.value_hash(old->second) : std::nullopt;
            if (before && before == runtime_.value_hash(value)) {
                // A rebuilt value that had left memory takes the new object under its old id.
                if (!runtime_.resident(old->second) && runtime_.adopt(old->second, value)) {
                    values_.forget(value);
                    values_.note_resident(old->second);
                } else {
                    release_value(value);
                }
                value = old->second;
                kept.insert(value);
            }
        }
    }
    for (const auto& [symbol, value] : previous->second.outputs) {
        if (value != kUnbound && !kept.count(value)) release_value(value);
    }
    previous->second = std::move(execution);
}

void Engine::rerun_stale(const std::string& except, ExecutionReport& report) {
    // Document order: each rerun may change versions that cells further down read, so the walk moves past a
    // cell only after its rerun. Settled cells (nothing above them changed) are passed at once.
    for (size_t i = 0; i < order_.cells().size() && !report.interrupted; ++i) {
        if (scan_.settled(i)) continue; // ran, and nothing above it changed: the usual case, asked first
        const std::string id = order_.cells()[i].id;
        if (id == except || last_execution(id) == nullptr) continue;
        Staleness staleness = scan_.direct_staleness(i);
        if (mode_ == EngineMode::Lazy) scan_.add_reads_from_stale(i, report.marked_stale, staleness);
        if (staleness.changed.empty()) continue;
        report.reasons[id] = staleness.changed;
        if (mode_ == EngineMode::Lazy) {
            report.marked_stale.push_back(id);
            continue;
        }
        run_cell(id, RunContext{id, false, 0}, report);
        report.reran_after.push_back(id);
    }
}

ExecutionReport Engine::execute(const CellRequest& request, int execution_count) {
    ExecutionReport report;
    // Only this request's cell changed since every cell was last analysed: no need to look at all of them again.
    const bool others_analysed = analysed_revision_ == order_.revision();
    std::vector<std::string> removed = order_.record(request);
    for (const auto& id : removed) forget(id);
    report.removed_cells = removed;

    say_value_warnings(report);
    if (!request.cell_id) {
        // Anonymous: as if appended after the last cell of the document.
        const std::set<std::string> nothing; // the console's reads are bound lazily
        bring_back_values(order_.cells().size(), report, &nothing);
        restore_state(order_.cells().size());
        RunOutcome outcome = runtime_.run(request.code, RunContext{"", true, execution_count}, {});
        report.requested_failed = outcome.failed;
        report.interrupted = outcome.interrupted;
        return report;
    }

    const std::string& id = *request.cell_id;
    if (request.options.empty()) options_.erase(id);
    else options_[id] = request.options;
    analysis_of(request.code);
    if (!others_analysed || !removed.empty()) {
        for (const auto& cell : order_.cells()) analysis_of(cell.code);
    }
    analysed_revision_ = order_.revision();
    // One upstream cell at a time, planning again after each: a run that fails leaves its names to an earlier
    // definition, which may be stale too (`v <- y + 1` above `v <- y + 2`, y deleted). Bounded, as a cell whose
    // inputs keep changing must not loop.
    for (size_t runs = 0; !report.interrupted && runs <= 2 * order_.cells().size(); ++runs) {
        std::vector<std::string> plan = planner_.upstream_of(id);
        if (plan.empty()) break;
        run_cell(plan.front(), RunContext{plan.front(), false, 0}, report);
        report.ran_before.push_back(plan.front());
    }
    if (!report.interrupted) run_cell(id, RunContext{id, true, execution_count}, report);
    if (!report.interrupted) rerun_stale(id, report);
    rebuild_spoiled_at_end(report);
    say_value_warnings(report);
    return report;
}

ExecutionReport Engine::sync_notebook(std::vector<Cell> cells) {
    ExecutionReport report;
    std::set<std::string> present;
    for (const auto& cell : cells) present.insert(cell.id);
    std::vector<std::string> gone;
    for (const auto& cell : order_.cells()) {
        if (!present.count(cell.id)) gone.push_back(cell.id);
    }
    std::set<std::string> orphans; // executions of cells no longer in the order, in a stable order
    for (const auto& [id, execution] : executions_) {
        if (!present.count(id) && std::find(gone.begin(), gone.end(), id) == gone.end()) orphans.insert(id);
    }
    gone.insert(gone.end(), orphans.begin(), orphans.end());
    order_.replace_all(std::move(cells));
    for (const auto& id : gone) forget(id);
    report.removed_cells = gone;
    for (const auto& cell : order_.cells()) analysis_of(cell.code);
    analysed_revision_ = order_.revision();
    rerun_stale("", report);
    rebuild_spoiled_at_end(report);
    say_value_warnings(report);
    return report;
}

std::string Engine::label(const std::string& id) const {
    auto at = position(id);
    if (!at) return id;
    const std::string& code = order_.cells()[*at].code;
    size_t start = code.find_first_not_of(" \t\r\n");
    if (start == std::string::npos) return "(empty)";
    // Cell option lines (`#| cache: false`) say nothing about what the cell does: the first line after them.
    for (size_t next; code.compare(start, 2, "#|") == 0; start = next) {
        next = code.find('\n', start);
        if (next == std::string::npos || (next = code.find_first_not_of(" \t\r\n", next)) == std::string::npos) break;
    }
    size_t end = code.find('\n', start);
    std::string line = code.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (line.size() > 24) line = line.substr(0, 23) + "\u2026";
    return line;
}

CellNamer Engine::cell_namer() const {
    return [this](const std::string& id) { return "[" + label(id) + "]"; };
}

std::string Engine::why(const std::string& id) const {
    auto at = position(id);
    if (!at) return "No cell with id " + id + " is in the notebook.";
    Staleness state = staleness(id);
    std::string name = "[" + label(id) + "]";
    if (state.never_ran) return name + " is stale: " + describe_all(state.reasons, cell_namer()) + ".";
    std::set<std::string> sources;
    for (const auto& edge : edges()) {
        if (edge.to != id) continue;
        std::string symbols;
        for (const auto& symbol : edge.symbols) symbols += (symbols.empty() ? "" : ", ") + subject_of(symbol);
        sources.insert("[" + label(edge.from) + "] (" + symbols + ")");
    }
    std::string depends;
    for (const auto& source : sources) depends += (depends.empty() ? "" : ", ") + source;
    std::string tail = depends.empty() ? " It depends on no other cell." : " It depends on " + depends + ".";
    if (!state.stale) return name + " is up to date." + tail;
    return name + " is stale: " + describe_all(state.reasons, cell_namer()) + "." + tail;
}

} // namespace ripple::dag
