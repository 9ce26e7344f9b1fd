// engine.cpp: reaching definitions over document order, staleness by recorded input versions, rerun planning.
// Pure C++: must not know about R headers, Jupyter or sockets; it reaches R only through dag::CellRuntime.
#include "dag/engine.hpp"
#include "dag/replay_chain.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>

namespace ripple::dag {

namespace {

// Names exported by an attached package get a version that depends only on the package, so rerunning
// library(pkg) does not invalidate its users, while removing the attaching cell does.
Version package_token(const std::string& package) {
    return static_cast<Version>(std::hash<std::string>{}(package)) | (Version{1} << 63);
}

// Every cell reads these: printing depends on options(), file access on the working directory.
const std::set<std::string>& implicit_uses() {
    static const std::set<std::string> uses{kOptionsSymbol, kWorkdirSymbol};
    return uses;
}

bool is_pseudo_symbol(const std::string& symbol) { return !symbol.empty() && symbol[0] == '@'; }

} // namespace

// Symbol versions while walking the document forward, as version_before would give them at each position.
// version_before scans backward from its position, so a pass over n cells that asked it for every input was
// O(n^2) per symbol: 3 ms a cell in a 300-cell notebook, mostly here.
class Engine::ForwardVersions {
public:
    explicit ForwardVersions(const Engine& engine) : engine_(engine) {}

    // The version before the current position.
    Version at(const std::string& symbol) const {
        auto bound = bound_.find(symbol);
        const size_t bound_at = bound == bound_.end() ? 0 : bound->second.first + 1;
        // A later cell attaching a package that exports it wins; within one cell its own binding wins.
        for (auto attach = attached_.rbegin(); attach != attached_.rend() && attach->first + 1 > bound_at; ++attach) {
            if (engine_.exports_of(attach->second).count(symbol)) return package_token(attach->second);
        }
        return bound == bound_.end() ? kUnbound : bound->second.second;
    }

    // Moves past the current cell, whose last execution (if any) is given.
    void advance(const Execution* execution) {
        if (execution != nullptr) {
            for (const auto& [symbol, value] : execution->outputs) bound_[symbol] = {position_, value};
            for (const auto& package : execution->attached) attached_.emplace_back(position_, package);
        }
        ++position_;
    }

private:
    const Engine& engine_;
    size_t position_ = 0;
    std::map<std::string, std::pair<size_t, Version>> bound_;  // symbol -> (position of last binding, value)
    std::vector<std::pair<size_t, std::string>> attached_;     // (position, package), in document order
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
        option.erase(std::remove_if(option.begin(), option.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; }),
                     option.end());
        if (option == "cache:true" || option == "cache=TRUE") return CellCacheChoice::Always;
        if (option == "cache:false" || option == "cache=FALSE") return CellCacheChoice::Never;
    }
    return CellCacheChoice::Default;
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

const Execution* Engine::last_execution(const std::string& id) const {
    auto found = executions_.find(id);
    return found == executions_.end() ? nullptr : &found->second;
}

const std::set<std::string>& Engine::exports_of(const std::string& package) const {
    auto found = exports_.find(package);
    if (found != exports_.end()) return found->second;
    return exports_.emplace(package, runtime_.package_exports(package)).first->second;
}

std::map<std::string, ValueId> Engine::state_before(size_t position) const {
    std::map<std::string, ValueId> state;
    const auto& cells = order_.cells();
    for (size_t i = 0; i < position && i < cells.size(); ++i) {
        const Execution* execution = last_execution(cells[i].id);
        if (execution == nullptr) continue;
        for (const auto& [symbol, value] : execution->outputs) {
            if (value == kUnbound) state.erase(symbol);
            else state[symbol] = value;
        }
    }
    return state;
}

Version Engine::version_before(size_t position, const std::string& symbol) const {
    const auto& cells = order_.cells();
    for (size_t i = std::min(position, cells.size()); i-- > 0;) {
        const Execution* execution = last_execution(cells[i].id);
        if (execution == nullptr) continue;
        auto bound = execution->outputs.find(symbol);
        if (bound != execution->outputs.end()) return bound->second;
        for (const auto& package : execution->attached) {
            if (exports_of(package).count(symbol)) return package_token(package);
        }
    }
    return kUnbound;
}

bool Engine::defines(size_t position, const std::string& symbol) const {
    const Cell& cell = order_.cells()[position];
    const Execution* execution = last_execution(cell.id);
    if (execution != nullptr && execution->code == cell.code) {
        if (execution->outputs.count(symbol)) return true;
        for (const auto& package : execution->attached) {
            if (exports_of(package).count(symbol)) return true;
        }
        return false;
    }
    // Never ran (or edited since): what its parser says it will define.
    auto analysis = analyses_.find(cell.code);
    if (analysis == analyses_.end()) return false;
    if (analysis->second.defs.count(symbol)) return true;
    for (const auto& package : analysis->second.attaches) {
        if (exports_of(package).count(symbol)) return true;
    }
    return false;
}

std::optional<size_t> Engine::reaching_definition(size_t position, const std::string& symbol) const {
    for (size_t i = std::min(position, order_.cells().size()); i-- > 0;) {
        if (defines(i, symbol)) return i;
    }
    return std::nullopt;
}

Staleness Engine::direct_staleness(size_t position) const {
    return direct_staleness(position, [&](const std::string& symbol) { return version_before(position, symbol); });
}

Staleness Engine::direct_staleness(size_t position, const std::function<Version(const std::string&)>& version_of) const {
    Staleness result;
    const Cell& cell = order_.cells()[position];
    const Execution* execution = last_execution(cell.id);
    if (execution == nullptr) {
        result.reasons.push_back(Reason(ReasonKind::NeverRan));
        result.stale = result.never_ran = true;
        return result;
    }
    if (execution->code != cell.code) {
        result.reasons.push_back(Reason(ReasonKind::CodeEdited));
        result.edited = true;
    }
    for (const auto& [symbol, version] : execution->inputs) {
        if (version_of(symbol) == version) continue;
        result.reasons.push_back(Reason::changed_input(symbol));
        result.changed.insert(symbol);
    }
    // A file it read changed on disk (the runtime hashes with a size + mtime fast path).
    for (const auto& [path, hash] : execution->files) {
        if (file_digests_.digest(path).value_or("missing") == hash) continue;
        result.reasons.push_back(Reason::file_changed(path));
        result.changed.insert(kFilePrefix + path);
    }
    result.stale = result.edited || !result.changed.empty();
    return result;
}

Staleness Engine::staleness(const std::string& id) const {
    auto at = position(id);
    if (!at) return Staleness{};
    // Propagate through stale upstream cells (lazy mode leaves them stale until needed).
    std::vector<Staleness> all(*at + 1);
    for (size_t i = 0; i <= *at; ++i) {
        all[i] = direct_staleness(i);
        const Execution* execution = last_execution(order_.cells()[i].id);
        if (execution == nullptr) continue;
        for (const auto& symbol : execution->uses) {
            auto source = reaching_definition(i, symbol);
            if (!source || !all[*source].stale) continue;
            const std::string& source_id = order_.cells()[*source].id;
            if (last_execution(source_id) == nullptr) continue;
            if (all[i].stale_upstream.insert(source_id).second) {
                all[i].reasons.push_back(Reason::upstream_stale(source_id));
            }
            all[i].stale = true;
        }
    }
    return all[*at];
}

std::vector<std::string> Engine::upstream_plan(const std::string& id) const {
    auto at = position(id);
    if (!at) return {};
    auto uses_of = [&](size_t i) {
        std::set<std::string> uses;
        const Cell& cell = order_.cells()[i];
        if (auto analysis = analyses_.find(cell.code); analysis != analyses_.end()) uses = analysis->second.uses;
        if (const Execution* execution = last_execution(cell.id)) uses.insert(execution->uses.begin(), execution->uses.end());
        return uses;
    };
    // Every cell the requested one reads from, directly or through others.
    std::map<size_t, std::set<std::string>> upstream;
    std::vector<size_t> pending{*at};
    std::set<size_t> visited{*at};
    while (!pending.empty()) {
        size_t reader = pending.back();
        pending.pop_back();
        for (const auto& symbol : uses_of(reader)) {
            auto source = reaching_definition(reader, symbol);
            if (!source || visited.count(*source)) continue;
            visited.insert(*source);
            upstream[*source] = uses_of(*source);
            pending.push_back(*source);
        }
    }
    // In document order: a cell must run if it is stale itself or reads from a cell that will run first
    // (lazy mode leaves whole chains stale: a <- 10 makes b stale directly and c through b).
    std::set<size_t> plan;
    for (const auto& [i, uses] : upstream) {
        bool runs = direct_staleness(i).stale;
        for (const auto& symbol : uses) {
            if (runs) break;
            auto source = reaching_definition(i, symbol);
            runs = source && plan.count(*source);
        }
        if (runs) plan.insert(i);
    }
    std::vector<std::string> ids;
    for (size_t i : plan) ids.push_back(order_.cells()[i].id);
    return ids;
}

void Engine::release_outputs(const Execution& execution) {
    for (const auto& [symbol, value] : execution.outputs) {
        if (value != kUnbound) runtime_.release(value);
    }
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
    replay_steps_by_id_.erase(id);
    const std::string code = order_.cells()[*at].code;
    const CellAnalysis analysis = analysis_of(code);
    if (!analysis.parsed) {
        // A parse error shows its message and changes nothing: the cell keeps its last good execution,
        // so nothing below becomes stale.
        runtime_.restore(state_before(*at), tracked_);
        RunOutcome outcome = runtime_.run(code, context, {});
        if (context.requested) report.requested_failed = true;
        if (outcome.interrupted) report.interrupted = true;
        return;
    }

    // Opaque values (environments, ...) that a later run changed in place cannot be restored:
    // rebuild them by rerunning the cell that defined them.
    for (const auto& symbol : analysis.uses) {
        if (spoiled_.empty()) break;  // the usual case: no version to look up
        Version version = version_before(*at, symbol);
        if (version == kUnbound || !spoiled_.count(version)) continue;
        auto source = reaching_definition(*at, symbol);
        if (!source) continue;
        std::string source_id = order_.cells()[*source].id;
        Reason rebuilt = Reason::opaque_rebuilt(symbol, source_id);
        report.notices.push_back("ripple: " + describe(rebuilt, cell_namer()));
        run_cell(source_id, RunContext{source_id, false, 0}, report);
        report.reran_after.push_back(source_id);
    }

    std::map<std::string, ValueId> state = state_before(*at);
    runtime_.restore(state, tracked_);

    std::set<std::string> uses = analysis.uses;
    std::set<std::string> known;
    for (const auto& symbol : analysis.uses) {
        if (state.count(symbol)) known.insert(symbol);
    }
    if (!known.empty()) {
        std::set<std::string> hidden = runtime_.closure_uses(known);
        uses.insert(hidden.begin(), hidden.end());
    }
    uses.insert(implicit_uses().begin(), implicit_uses().end());
    // library() reads the search path: whether it attaches anything depends on what is attached above.
    if (!analysis.attaches.empty() || analysis.effects.count("search")) uses.insert(kSearchSymbol);

    std::map<std::string, std::string> files;
    for (const auto& path : analysis.files) files[path] = file_digests_.digest(path).value_or("missing");
    std::vector<Reason> would_run_because;  // dry run: reads a name that a cell above recomputes
    for (const auto& symbol : uses) {
        if (auto source = dry_poisoned_.find(symbol); dry_run_ && source != dry_poisoned_.end()) {
            would_run_because.push_back(Reason::reads_recomputed(symbol, source->second));
        }
    }
    std::optional<CacheKey> key;
    if (would_run_because.empty()) key = cache_key_for(*at, id, analysis, code, uses, state);
    std::optional<RunOutcome> cached;
    if (key && cache_use_ == CacheUse::ReadWrite) cached = serve_from_cache(*at, *key, state, context);
    if (dry_run_ && !cached) {
        std::vector<Reason> reasons = std::move(would_run_because);
        if (reasons.empty() && !key) {
            reasons.push_back(why_no_key(code, analysis));
        } else if (reasons.empty()) {
            std::optional<CacheKey> previous = dry_run_(id);
            if (previous) {
                for (auto& change : key_changes(*previous, *key, *at, state)) {
                    reasons.push_back(Reason::key_part_changed(std::move(change)));
                }
            }
            if (reasons.empty()) {
                reasons.push_back(Reason(previous ? ReasonKind::NoMatchingEntry : ReasonKind::NotRunWithCache));
            }
        }
        // Once per cell: a later request plans it again as a stale upstream cell.
        if (dry_reported_.insert(id).second) {
            std::vector<std::string> sentences;
            for (const auto& reason : reasons) sentences.push_back(describe(reason, cell_namer()));
            report.would_run.emplace_back(id, std::move(sentences));
        }
        for (const auto& symbol : analysis.defs) dry_poisoned_[symbol] = id;
        for (const auto& symbol : analysis.deletes) dry_poisoned_[symbol] = id;
        return;
    }
    RunOutcome outcome;
    double run_seconds = 0;
    if (cached) {
        outcome = std::move(*cached);
        report.from_cache.push_back(id);
    } else {
        RunContext recording = context;
        recording.record_outputs = key.has_value() || (replay_steps_ && may_record_step(code, analysis));
        auto started = std::chrono::steady_clock::now();
        outcome = runtime_.run(code, recording, analysis.defs);
        run_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    }
    if (key) last_keys_[id] = *key;
    else last_keys_.erase(id);
    // Functions the cell defines and may call (`f <- function(a) a + y; f(5)`) read their free variables.
    std::set<std::string> defined_here;
    for (const auto& symbol : analysis.defs) {
        if (!state.count(symbol) || outcome.bound.count(symbol)) defined_here.insert(symbol);
    }
    if (!defined_here.empty()) {
        for (const auto& symbol : runtime_.closure_uses(defined_here)) {
            if (!analysis.defs.count(symbol)) uses.insert(symbol);
        }
    }

    Execution execution;
    execution.code = code;
    execution.failed = outcome.failed;
    execution.attached = outcome.attached_packages;
    execution.files = std::move(files);
    execution.serial = ++serial_;
    execution.outputs = outcome.bound;
    for (const auto& symbol : outcome.removed) execution.outputs[symbol] = kUnbound;
    // A run that drew random numbers without seeding first read the incoming seed.
    if (outcome.bound.count(kSeedSymbol) && !analysis.defs.count(kSeedSymbol)) uses.insert(kSeedSymbol);
    uses.insert(outcome.passed_through.begin(), outcome.passed_through.end());
    // rm(x) reads x (a missing x is a warning) and leaves it unbound, whether or not it was bound.
    for (const auto& symbol : analysis.deletes) {
        uses.insert(symbol);
        if (!execution.outputs.count(symbol) && !outcome.failed) execution.outputs[symbol] = kUnbound;
    }
    // Touching an opaque value counts as redefining it: its readers below must rerun.
    for (const auto& symbol : uses) {
        auto bound = state.find(symbol);
        if (bound == state.end() || execution.outputs.count(symbol)) continue;
        if (runtime_.is_opaque(bound->second)) {
            execution.outputs[symbol] = runtime_.rehold(bound->second);
            spoiled_.insert(bound->second);
        }
    }
    execution.uses = uses;
    for (const auto& symbol : uses) execution.inputs[symbol] = version_before(*at, symbol);
    std::optional<std::string> stored;
    if (key && !cached) stored = store_in_cache(*key, *at, outcome, uses, state, run_seconds);
    if (replay_steps_) {
        std::optional<ReplayStep> step;
        if (cached || stored) {
            step = ReplayStep{};
            step->entry_key = key->digest();
            step->entry_identity = cached ? served_identity_ : *stored;
            step->packages = packages_in(*key);
        } else if (!key && !outcome.failed && !outcome.interrupted && !outcome.recorded_outputs.empty() &&
                   may_record_step(code, analysis) && !outcome.bound.count(kSeedSymbol)) {
            step = recorded_step(*at, outcome, uses, state);
        }
        if (step) {
            step->files = execution.files;
            replay_steps_by_id_[id] = std::move(*step);
        }
    }
    for (const auto& [symbol, value] : execution.outputs) tracked_.insert(symbol);

    if (auto previous = executions_.find(id); previous != executions_.end()) {
        // Early cutoff: a rerun that reproduced a value with the same content keeps the old version, so
        // the cells reading it stay up to date. Content is only known when the cache hashes values.
        std::set<ValueId> kept;
        if (key) {
            for (auto& [symbol, value] : execution.outputs) {
                auto old = previous->second.outputs.find(symbol);
                if (value == kUnbound || old == previous->second.outputs.end() || old->second == kUnbound ||
                    old->second == value || runtime_.is_opaque(old->second)) {
                    continue;
                }
                std::optional<std::string> before = runtime_.value_hash(old->second);
                if (before && before == runtime_.value_hash(value)) {
                    runtime_.release(value);
                    value = old->second;
                    kept.insert(value);
                }
            }
        }
        for (const auto& [symbol, value] : previous->second.outputs) {
            if (value != kUnbound && !kept.count(value)) runtime_.release(value);
        }
        previous->second = std::move(execution);
    } else {
        executions_.emplace(id, std::move(execution));
    }
    if (context.requested) report.requested_failed = outcome.failed;
    if (outcome.interrupted) report.interrupted = true;
}

void Engine::rerun_stale(const std::string& except, ExecutionReport& report) {
    // Document order: each rerun may change versions that cells further down read, so the walk moves past a
    // cell only after its rerun.
    auto versions = std::make_unique<ForwardVersions>(*this);
    for (size_t i = 0; i < order_.cells().size() && !report.interrupted;
         versions->advance(last_execution(order_.cells()[i].id)), ++i) {
        const std::string id = order_.cells()[i].id;
        if (id == except || last_execution(id) == nullptr) continue;
        Staleness staleness = direct_staleness(i, [&](const std::string& symbol) { return versions->at(symbol); });
        if (mode_ == EngineMode::Lazy && !report.marked_stale.empty()) {
            // Readers of a cell left stale are stale too (they would see its new values once it runs).
            for (const auto& symbol : last_execution(id)->uses) {
                auto source = reaching_definition(i, symbol);
                if (source && std::find(report.marked_stale.begin(), report.marked_stale.end(),
                                        order_.cells()[*source].id) != report.marked_stale.end()) {
                    staleness.changed.insert(symbol);
                }
            }
        }
        if (staleness.changed.empty()) continue;
        if (mode_ == EngineMode::Lazy) {
            report.marked_stale.push_back(id);
            report.reasons[id] = staleness.changed;
            continue;
        }
        report.reasons[id] = staleness.changed;
        const size_t reran = report.reran_after.size();
        run_cell(id, RunContext{id, false, 0}, report);
        if (report.reran_after.size() != reran) {
            // It reran a cell above it first (to rebuild an opaque value): the walk so far is out of date.
            versions = std::make_unique<ForwardVersions>(*this);
            for (size_t j = 0; j < i; ++j) versions->advance(last_execution(order_.cells()[j].id));
        }
        report.reran_after.push_back(id);
    }
}

ExecutionReport Engine::execute(const CellRequest& request, int execution_count) {
    ExecutionReport report;
    std::vector<std::string> removed = order_.record(request);
    for (const auto& id : removed) forget(id);
    report.removed_cells = removed;

    if (!request.cell_id) {
        // Anonymous: as if appended after the last cell of the document.
        runtime_.restore(state_before(order_.cells().size()), tracked_);
        RunOutcome outcome = runtime_.run(request.code, RunContext{"", true, execution_count}, {});
        report.requested_failed = outcome.failed;
        report.interrupted = outcome.interrupted;
        return report;
    }

    const std::string& id = *request.cell_id;
    if (request.options.empty()) options_.erase(id);
    else options_[id] = request.options;
    analysis_of(request.code);
    for (const auto& cell : order_.cells()) analysis_of(cell.code);
    for (const auto& upstream : upstream_plan(id)) {
        if (report.interrupted) break;
        run_cell(upstream, RunContext{upstream, false, 0}, report);
        report.ran_before.push_back(upstream);
    }
    if (!report.interrupted) run_cell(id, RunContext{id, true, execution_count}, report);
    if (!report.interrupted) rerun_stale(id, report);
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
    for (const auto& [id, execution] : executions_) {
        if (!present.count(id) && std::find(gone.begin(), gone.end(), id) == gone.end()) gone.push_back(id);
    }
    order_.replace_all(std::move(cells));
    for (const auto& id : gone) forget(id);
    report.removed_cells = gone;
    for (const auto& cell : order_.cells()) analysis_of(cell.code);
    rerun_stale("", report);
    return report;
}

std::vector<EdgeInfo> Engine::edges() const {
    std::map<std::pair<std::string, std::string>, std::set<std::string>> grouped;
    const auto& cells = order_.cells();
    for (size_t i = 0; i < cells.size(); ++i) {
        std::set<std::string> uses;
        if (const Execution* execution = last_execution(cells[i].id)) uses = execution->uses;
        if (auto analysis = analyses_.find(cells[i].code); analysis != analyses_.end()) {
            uses.insert(analysis->second.uses.begin(), analysis->second.uses.end());
        }
        for (const auto& symbol : uses) {
            if (auto source = reaching_definition(i, symbol)) {
                grouped[{cells[*source].id, cells[i].id}].insert(symbol);
            }
        }
    }
    std::vector<EdgeInfo> result;
    for (auto& [ends, symbols] : grouped) result.push_back(EdgeInfo{ends.first, ends.second, std::move(symbols)});
    return result;
}

std::optional<CacheKey> Engine::last_key(const std::string& id) const {
    auto found = last_keys_.find(id);
    if (found == last_keys_.end()) return std::nullopt;
    return found->second;
}

std::optional<std::string> Engine::package_exporting(size_t position, const std::string& symbol) const {
    const auto& cells = order_.cells();
    for (size_t i = std::min(position, cells.size()); i-- > 0;) {
        const Execution* execution = last_execution(cells[i].id);
        if (execution == nullptr) continue;
        if (execution->outputs.count(symbol)) return std::nullopt;
        for (const auto& package : execution->attached) {
            if (exports_of(package).count(symbol)) return package;
        }
    }
    return std::nullopt;
}

std::string Engine::seed_hash(const std::map<std::string, ValueId>& state) {
    auto seed = state.find(kSeedSymbol);
    if (seed == state.end()) return "none";
    return runtime_.value_hash(seed->second).value_or("unhashable");
}

// The cell's cache key before it runs, or nullopt if its results may not be cached: it opted out, is
// volatile, changes session state the cache does not snapshot (packages, options, directory), or reads a
// value without content (an environment, a connection).
bool Engine::add_use_part(CacheKey& key, size_t position, const std::string& symbol,
                          const std::map<std::string, ValueId>& state) {
    if (symbol == kSeedSymbol) {
        std::string seed = seed_hash(state);
        if (seed == "unhashable") return false;
        key.set_rng(runtime_.rng_state().first, seed);
        return true;
    }
    auto bound = state.find(symbol);
    if (bound != state.end()) {
        // For a pseudo-symbol: an upstream cell changed options, the directory or the search path.
        std::optional<std::string> hash = runtime_.value_hash(bound->second);
        if (!hash) return false;
        key.add_value_use(symbol, *hash);
    } else if (is_pseudo_symbol(symbol)) {
        return true;  // the session's baseline: covered by the environment part
    } else if (auto package = package_exporting(position, symbol)) {
        key.add_package_use(symbol, *package, runtime_.package_version(*package));
    } else {
        key.add_unbound_use(symbol);  // base R, a default package, or nothing: the R version decides
    }
    return true;
}

// What the code alone says against caching the cell's results (nullopt: nothing), in words for `why` and the dry
// run; cache_key_for() refuses a key for these first.
std::optional<Reason> Engine::uncacheable_reason(const std::string& code, const CellAnalysis& analysis) {
    CellCacheChoice choice = cell_cache_choice(code);
    if (choice == CellCacheChoice::Never) return Reason(ReasonKind::OptedOut);
    if (analysis.is_volatile && choice != CellCacheChoice::Always) return Reason(ReasonKind::Volatile);
    if (!analysis.attaches.empty() || analysis.effects.count("search")) return Reason(ReasonKind::ChangesPackages);
    if (analysis.effects.count("options")) return Reason(ReasonKind::ChangesOptions);
    if (analysis.effects.count("wd")) return Reason(ReasonKind::ChangesWorkdir);
    if (analysis.deletes_all) return Reason(ReasonKind::RemovesEverything);
    return std::nullopt;
}

// Why a cell with a parse has no key (uncacheable_reason, else what only cache_key_for's later checks find).
Reason Engine::why_no_key(const std::string& code, const CellAnalysis& analysis) {
    return uncacheable_reason(code, analysis).value_or(Reason(ReasonKind::UnhashableRead));
}

// The cell's cache key before it runs, or nullopt if its results may not be cached: it opted out, is
// volatile, changes session state the cache does not snapshot (packages, options, directory), or reads a
// value without content (an environment, a connection). Uses found only by running (functions the cell
// defines and calls, the RNG) join the stored key: serve_from_cache checks them before serving.
std::optional<CacheKey> Engine::cache_key_for(size_t position, const std::string& id, const CellAnalysis& analysis,
                                              const std::string& code,
                                              const std::set<std::string>& uses,
                                              const std::map<std::string, ValueId>& state) {
    if (cache_ == nullptr || cache_use_ == CacheUse::Off || analysis.fingerprint.empty()) return std::nullopt;
    if (uncacheable_reason(code, analysis)) return std::nullopt;
    std::optional<KeyEnvironment> environment = runtime_.key_environment();
    if (!environment) return std::nullopt;
    CacheKey key;
    key.set_code(analysis.fingerprint);
    key.set_environment(*environment);
    if (auto options = options_.find(id); options != options_.end()) {
        for (const auto& [name, value] : options->second) key.set_option(name, value);
    }
    std::set<std::string> reads = uses;
    reads.insert(analysis.deletes.begin(), analysis.deletes.end());  // rm(x) warns when x is missing
    if (analysis.effects.count("rng")) reads.insert(kSeedSymbol);
    for (const auto& symbol : reads) {
        if (!add_use_part(key, position, symbol, state)) return std::nullopt;
    }
    if (uses.count(kSeedSymbol) && key.part("rng:seed") == std::optional<std::string>("none")) {
        return std::nullopt;  // draws from a generator seeded by the clock
    }
    for (const auto& file : analysis.files) key.add_file(file, file_digests_.digest(file));
    return key;
}

std::optional<RunOutcome> Engine::serve_from_cache(size_t position, const CacheKey& key,
                                                   const std::map<std::string, ValueId>& state,
                                                   const RunContext& context) {
    std::optional<CachedRun> entry = cache_->find(key.digest());
    if (!entry) return std::nullopt;
    // Parts learnt by the entry's run (its hidden reads) must hold now too.
    CacheKey now = key;
    for (const auto& [name, value] : entry->key.parts()) {
        if (key.part(name)) continue;
        if (name.rfind("use:", 0) == 0) {
            if (!add_use_part(now, position, name.substr(4), state)) return std::nullopt;
        } else if (name == "rng:kind" || name == "rng:seed") {
            if (!add_use_part(now, position, kSeedSymbol, state)) return std::nullopt;
        } else {
            return std::nullopt;
        }
        if (now.part(name) != std::optional<std::string>(value)) return std::nullopt;
    }
    RunOutcome outcome;
    auto give_back = [&] {
        for (const auto& [symbol, value] : outcome.bound) runtime_.release(value);
        return std::nullopt;
    };
    for (const auto& [symbol, hash] : entry->values) {
        if (hash.empty()) {
            outcome.removed.insert(symbol);
            continue;
        }
        std::optional<std::string> bytes = cache_->load_value(hash);
        ValueId value = bytes ? runtime_.unserialize_value(*bytes, hash) : kUnbound;
        if (value == kUnbound) return give_back();
        outcome.bound[symbol] = value;
    }
    if (!runtime_.replay(entry->outputs, context)) return give_back();
    if (replay_steps_) served_identity_ = execution_identity(*entry);
    // The global state as the run would have left it.
    std::set<std::string> touched;
    for (const auto& [symbol, hash] : entry->values) touched.insert(symbol);
    runtime_.restore(outcome.bound, touched);
    return outcome;
}

// A run the cache cannot keep that is still a function of the session state, the files it reads and the installed
// packages, so a replay step may carry its outputs: library(), options(), attach(). Not volatile, not opted out, no
// random numbers, no working directory change (file inputs are checked relative to it).
bool Engine::may_record_step(const std::string& code, const CellAnalysis& analysis) {
    if (analysis.fingerprint.empty() || analysis.is_volatile || analysis.deletes_all) return false;
    if (cell_cache_choice(code) == CellCacheChoice::Never) return false;
    return !analysis.effects.count("rng") && !analysis.effects.count("wd");
}

std::set<std::string> Engine::packages_in(const CacheKey& key) {
    std::set<std::string> packages;
    static const std::string kUse = "use:", kAttached = "env:package:", kPackage = "package:";
    for (const auto& [name, value] : key.parts()) {
        if (name.rfind(kAttached, 0) == 0) {
            packages.insert(name.substr(kAttached.size()));
        } else if (name.rfind(kUse, 0) == 0 && value.rfind(kPackage, 0) == 0) {
            std::string package = value.substr(kPackage.size());
            packages.insert(package.substr(0, package.rfind('@')));
        }
    }
    return packages;
}

std::optional<ReplayStep> Engine::recorded_step(size_t position, const RunOutcome& outcome,
                                                const std::set<std::string>& uses,
                                                const std::map<std::string, ValueId>& state) {
    // The same reads a key would name: every value read must have content, every package read is checked.
    std::optional<KeyEnvironment> environment = runtime_.key_environment();
    if (!environment) return std::nullopt;
    CacheKey reads;
    reads.set_environment(*environment);
    for (const auto& symbol : uses) {
        if (!add_use_part(reads, position, symbol, state)) return std::nullopt;
    }
    ReplayStep step;
    step.outputs = outcome.recorded_outputs;
    step.packages = packages_in(reads);
    step.packages.insert(outcome.attached_packages.begin(), outcome.attached_packages.end());
    return step;
}

std::optional<ReplayStep> Engine::replay_step(const std::string& id) {
    auto found = replay_steps_by_id_.find(id);
    if (found == replay_steps_by_id_.end()) return std::nullopt;
    ReplayStep step = found->second;
    std::optional<std::vector<std::string>> paths = runtime_.package_files(step.packages);
    if (!paths) return std::nullopt;
    step.stamped_paths = std::move(*paths);
    return step;
}

std::optional<std::string> Engine::store_in_cache(CacheKey key, size_t position, const RunOutcome& outcome,
                                                  const std::set<std::string>& uses,
                                                  const std::map<std::string, ValueId>& state, double seconds) {
    if (outcome.failed || outcome.interrupted || !outcome.attached_packages.empty()) return std::nullopt;
    const std::string digest = key.digest();  // the key as looked up: before the reads found by running
    for (const auto& symbol : uses) {
        if (symbol == kSeedSymbol ? key.part("rng:seed").has_value() : key.part("use:" + symbol).has_value()) continue;
        if (is_pseudo_symbol(symbol) && !state.count(symbol)) continue;
        if (!add_use_part(key, position, symbol, state)) return std::nullopt;
    }
    if (uses.count(kSeedSymbol) && key.part("rng:seed") == std::optional<std::string>("none")) return std::nullopt;  // clock-seeded
    CachedRun entry;
    for (const auto& [symbol, value] : outcome.bound) {
        if (is_pseudo_symbol(symbol)) return std::nullopt;
        std::optional<std::string> hash = runtime_.value_hash(value);
        if (!hash) return std::nullopt;
        if (!cache_->has_value(*hash)) {
            std::optional<std::string> bytes = runtime_.serialize_value(value);
            if (!bytes) return std::nullopt;
            cache_->store_value(*hash, *bytes);
        }
        entry.values[symbol] = *hash;
    }
    for (const auto& symbol : outcome.removed) entry.values[symbol] = "";
    entry.key = std::move(key);
    entry.outputs = outcome.recorded_outputs;
    entry.seconds = seconds;
    cache_->store(digest, entry);
    if (!replay_steps_) return std::string();
    return execution_identity(entry);
}

// What differs between a cell's last key and its key now, in sentences. The reads its last run learnt
// (functions it called, rm targets) are valued now too, so they compare like the static ones.
std::vector<std::string> Engine::key_changes(const CacheKey& previous, CacheKey now, size_t position,
                                             const std::map<std::string, ValueId>& state) {
    for (const auto& [name, value] : previous.parts()) {
        if (!now.part(name) && name.rfind("use:", 0) == 0) add_use_part(now, position, name.substr(4), state);
    }
    return explain(previous, now);
}

std::string Engine::why_cache(const std::string& id) {
    auto previous = last_keys_.find(id);
    auto at = position(id);
    if (cache_ == nullptr || cache_use_ == CacheUse::Off || !at) return std::string();
    // Nothing to compare with unless it ran here (with a key, or without one: then say why it has none).
    if (previous == last_keys_.end() && last_execution(id) == nullptr) return std::string();
    const std::string& code = order_.cells()[*at].code;
    const CellAnalysis& analysis = analysis_of(code);
    std::map<std::string, ValueId> state = state_before(*at);
    std::set<std::string> uses = analysis.uses;
    uses.insert(implicit_uses().begin(), implicit_uses().end());
    if (const Execution* execution = last_execution(id)) uses.insert(execution->uses.begin(), execution->uses.end());
    std::optional<CacheKey> now = analysis.parsed ? cache_key_for(*at, id, analysis, code, uses, state) : std::nullopt;
    if (!now) {
        Reason reason = analysis.parsed ? why_no_key(code, analysis) : Reason(ReasonKind::DoesNotParse);
        return "Cache: [" + label(id) + "] cannot be cached as it is now: " + describe(reason, cell_namer()) + ".";
    }
    if (previous == last_keys_.end()) return std::string();
    std::vector<std::string> changes = key_changes(previous->second, *now, *at, state);
    if (changes.empty()) return "Cache: running [" + label(id) + "] now would be served from the cache (same key as its last run).";
    std::string text;
    for (const auto& change : changes) text += (text.empty() ? "" : "; ") + change;
    return "Cache: [" + label(id) + "] would recompute: " + text + ".";
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
