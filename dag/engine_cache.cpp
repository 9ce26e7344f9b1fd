// engine_cache.cpp: the engine's cache policy (SPEC 5): a cell's key before it runs, serving a stored run (values
// restored, outputs replayed), storing a run, and explaining a miss. The keys' format is dag/cache_key.cpp's.
// Pure C++: must not know about R headers, Jupyter or sockets; it reaches R only through dag::CellRuntime.
#include "dag/engine.hpp"
#include "dag/sha256.hpp"

namespace ripple::dag {

namespace {

bool is_pseudo_symbol(const std::string& symbol) { return !symbol.empty() && symbol[0] == '@'; }

} // namespace

std::optional<CacheKey> Engine::last_key(const std::string& id) const {
    auto found = last_keys_.find(id);
    if (found == last_keys_.end()) return std::nullopt;
    return found->second;
}

std::string Engine::seed_hash(const std::map<std::string, ValueId>& state) {
    auto seed = state.find(kSeedSymbol);
    if (seed == state.end()) return "none";
    return runtime_.value_hash(seed->second).value_or("unhashable");
}

// Adds what `symbol` is before `position` to the key: its value's hash, the package exporting it, or unbound.
// False if it has no content to hash (an environment, a connection): then there is no key.
bool Engine::add_use_part(CacheKey& key, size_t position, const std::string& symbol,
                          const std::map<std::string, ValueId>& state) {
    if (symbol == kGlobalsSymbol) {
        // ls(), get(name), eval() of computed code (design note 7): every binding's name and content hash, so a
        // name bound or unbound, or any value, differing from the entry's session is a miss.
        Sha256 digest;
        for (const auto& [name, value] : state) {
            if (is_pseudo_symbol(name) || value == kUnbound) continue;
            std::optional<std::string> hash = runtime_.value_hash(value);
            if (!hash) return false;
            digest.update(name);
            digest.update(std::string_view("=", 1));
            digest.update(*hash);
            digest.update(std::string_view(";", 1));
        }
        key.add_value_use(symbol, digest.hex_digest());
        return true;
    }
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
        return true; // the session's baseline: covered by the environment part
    } else if (auto package = scan_.package_exporting(position, symbol)) {
        key.add_package_use(symbol, *package, runtime_.package_version(*package));
    } else {
        key.add_unbound_use(symbol); // base R, a default package, or nothing: the R version decides
    }
    return true;
}

// What the code alone says against caching the cell's results (nullopt: nothing), in words for `why` and the dry
// run; cache_key_for() refuses a key for these first.
std::optional<Reason> Engine::uncacheable_reason(const std::string& code, const CellAnalysis& analysis) {
    CellCacheChoice choice = cell_cache_choice(code);
    if (choice == CellCacheChoice::Never) return Reason(ReasonKind::OptedOut);
    if (analysis.is_volatile && choice != CellCacheChoice::Always) return Reason(ReasonKind::Volatile);
    // library(pkg) with a named package is cacheable: its entry keeps the search path it left (restored by attaching),
    // so a chunk that loads packages and computes is served like any other. attach(), detach() and computed names
    // are not.
    if (analysis.effects.count("search")) return Reason(ReasonKind::ChangesPackages);
    if (analysis.effects.count("options")) return Reason(ReasonKind::ChangesOptions);
    if (analysis.effects.count("wd")) return Reason(ReasonKind::ChangesWorkdir);
    if (analysis.effects.count("envvars") || analysis.effects.count("locale")) {
        return Reason(ReasonKind::ChangesEnvironment);
    }
    if (analysis.deletes_all) return Reason(ReasonKind::RemovesEverything);
    return std::nullopt;
}

// What the cell's last run did against caching it, seen only by running: it reached outside R, or changed a file
// it had read (nullopt: nothing).
std::optional<Reason> Engine::uncacheable_run_reason(const Execution& execution) {
    if (!execution.outside.empty()) return Reason::reaches_outside(execution.outside);
    if (!execution.rewritten_input.empty()) return Reason::rewrites_input(execution.rewritten_input);
    return std::nullopt;
}

// What the store says against serving `key`: its last run reached outside R (a marker entry), else nullopt.
std::optional<Reason> Engine::stored_outside_reason(const CacheKey& key) {
    if (cache_ == nullptr) return std::nullopt;
    std::optional<CachedRun> entry = cache_->find(key.digest());
    std::optional<std::string> what = entry ? entry->key.part("outside") : std::nullopt;
    if (!what) return std::nullopt;
    Reason reason(ReasonKind::ReachesOutside);
    reason.detail = *what;
    return reason;
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
                                              const std::string& code, const std::set<std::string>& uses,
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
    reads.insert(analysis.deletes.begin(), analysis.deletes.end()); // rm(x) warns when x is missing
    if (analysis.effects.count("rng")) reads.insert(kSeedSymbol);
    for (const auto& symbol : reads) {
        if (!add_use_part(key, position, symbol, state)) return std::nullopt;
    }
    if (uses.count(kSeedSymbol) && key.part("rng:seed") == std::optional<std::string>("none")) {
        return std::nullopt; // draws from a generator seeded by the clock
    }
    for (const auto& file : analysis.files) key.add_file(file, scan_.file_digest(file));
    // The packages it attaches: another version (or none installed) is another run.
    for (const auto& package : analysis.attaches) {
        key.add_package_use("library(" + package + ")", package, runtime_.package_version(package));
    }
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
        } else if (name.rfind("file:", 0) == 0) {
            now.add_file(name.substr(5), scan_.file_digest(name.substr(5)));
        } else if (name.rfind("wrote:", 0) == 0) {
            now.add_written_file(name.substr(6), scan_.file_digest(name.substr(6)));
        } else {
            return std::nullopt;
        }
        if (now.part(name) != std::optional<std::string>(value)) return std::nullopt;
    }
    RunOutcome outcome;
    // The files its run read and wrote are this run's too (edges, staleness).
    for (const auto& [name, value] : entry->key.parts()) {
        if (name.rfind("file:", 0) == 0) outcome.files_read.insert(name.substr(5));
        if (name.rfind("wrote:", 0) == 0) outcome.files_written.insert(name.substr(6));
    }
    auto give_back = [&] {
        for (const auto& [symbol, value] : outcome.bound) release_value(value);
        return std::nullopt;
    };
    for (const auto& [symbol, hash] : entry->values) {
        if (hash.empty()) {
            outcome.removed.insert(symbol);
            continue;
        }
        // A large value answers with the identity its run gave it (design note 10), so cells below key alike. It is
        // bound lazily: loaded when a cell reads it, never if none does.
        const bool derived = entry->derived.count(symbol) > 0;
        if (derived && cache_->has_value(hash)) {
            ValueId lazy = runtime_.hold_lazy(ValueStore::derived_identity(entry->key, symbol));
            if (lazy != kUnbound) {
                outcome.bound[symbol] = lazy;
                values_.track_lazy(lazy, hash);
                continue;
            }
        }
        std::optional<std::string> bytes = cache_->load_value(hash);
        ValueId value =
            bytes
                ? runtime_.unserialize_value(*bytes, derived ? ValueStore::derived_identity(entry->key, symbol) : hash)
                : kUnbound;
        if (value == kUnbound) return give_back();
        outcome.bound[symbol] = value;
        if (derived || bytes->size() >= values_.settings().large_bytes) {
            values_.track(value, bytes->size());
            values_.note_stored(value, hash);
        }
    }
    if (!runtime_.replay(entry->outputs, context)) return give_back();
    if (auto search = outcome.bound.find(kSearchSymbol); search != outcome.bound.end()) {
        auto before = state.find(kSearchSymbol);
        outcome.attached_packages =
            runtime_.attached_between(before == state.end() ? kUnbound : before->second, search->second);
    }
    replay_.served(*entry);
    // The global state as the run would have left it.
    runtime_.bind(outcome.bound);
    return outcome;
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
    step.packages = ReplayStepRecorder::packages_in(reads);
    step.packages.insert(outcome.attached_packages.begin(), outcome.attached_packages.end());
    return step;
}

std::optional<std::string> Engine::store_in_cache(CacheKey key, size_t position, const RunOutcome& outcome,
                                                  const std::set<std::string>& uses,
                                                  const std::map<std::string, ValueId>& state, double seconds) {
    if (outcome.failed || outcome.interrupted) return std::nullopt;
    if (!outcome.outside.empty()) {
        // A marker without results: a later session, or `why`, learns from the store that this work is never served.
        CachedRun marker;
        marker.key = key;
        marker.key.set_outside(Reason::reaches_outside(outcome.outside).detail);
        marker.outputs = "[]";
        cache_->store(key.digest(), marker);
        return std::nullopt;
    }
    for (const auto& path : outcome.files_written) {
        if (outcome.files_read.count(path)) return std::nullopt; // read, then changed: its input is gone
    }
    const std::string digest = key.digest(); // the key as looked up: before the reads found by running
    for (const auto& symbol : uses) {
        if (symbol == kSeedSymbol ? key.part("rng:seed").has_value() : key.part("use:" + symbol).has_value()) continue;
        // A pseudo-symbol no cell bound is the session's baseline (the key's environment part covers it), except
        // @globals, which is never bound and always keyed.
        if (is_pseudo_symbol(symbol) && symbol != kGlobalsSymbol && !state.count(symbol)) continue;
        if (!add_use_part(key, position, symbol, state)) return std::nullopt;
    }
    if (uses.count(kSeedSymbol) && key.part("rng:seed") == std::optional<std::string>("none"))
        return std::nullopt; // clock-seeded
    // Files it was seen to read and write (design note 9): rechecked by serve_from_cache before serving.
    for (const auto& path : outcome.files_read) {
        if (!key.part("file:" + path)) key.add_file(path, scan_.file_digest(path));
    }
    for (const auto& path : outcome.files_written) key.add_written_file(path, scan_.file_digest(path));
    CachedRun entry;
    // Large values first (design note 10): each is known by an identity derived from the full key, so neither this
    // store nor a cell below hashes it. If rerunning the cell is cheaper than loading one back, nothing is stored.
    std::map<std::string, ValueId> large;
    bool worth_storing = true;
    for (const auto& [symbol, value] : outcome.bound) {
        if (is_pseudo_symbol(symbol)) continue;
        std::optional<std::uint64_t> bytes = values_.large_size(value);
        if (!bytes) continue;
        runtime_.set_value_identity(value, ValueStore::derived_identity(key, symbol));
        values_.track(value, *bytes);
        large[symbol] = value;
        entry.derived.insert(symbol);
        worth_storing = worth_storing && values_.worth_storing(*bytes, seconds);
    }
    if (!worth_storing) return std::nullopt;
    for (const auto& [symbol, value] : outcome.bound) {
        // The search path a library() call left is kept like a value (search()'s names); serving it attaches them.
        if (is_pseudo_symbol(symbol) && symbol != kSearchSymbol) return std::nullopt;
        if (large.count(symbol)) continue;
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
    // A forked child writes each large value while the session goes on; the entry is stored once all are written.
    std::vector<ValueStore::PendingValue> pending;
    for (const auto& [symbol, value] : large) {
        std::optional<std::string> file = cache_->new_value_file();
        std::optional<std::uint64_t> ticket = file ? runtime_.start_value_write(value, *file) : std::nullopt;
        if (ticket) {
            pending.push_back(ValueStore::PendingValue{symbol, value, *ticket, *file});
            continue;
        }
        // No fork here (or no file): in the foreground, hashing what is written.
        std::optional<std::string> bytes = runtime_.serialize_value(value);
        if (!bytes) return std::nullopt;
        std::string hash = sha256_hex(*bytes);
        cache_->store_value(hash, *bytes);
        entry.values[symbol] = hash;
        values_.note_stored(value, hash);
    }
    if (!pending.empty()) {
        values_.defer(digest, std::move(entry), std::move(pending));
        return std::nullopt; // not a replay step: its values are not stored yet
    }
    cache_->store(digest, entry);
    if (!replay_.on()) return std::string();
    return execution_identity(entry);
}

// What differs between a cell's last key and its key now, in sentences. The reads its last run learnt
// (functions it called, rm targets) are valued now too, so they compare like the static ones.
std::vector<std::string> Engine::key_changes(const CacheKey& previous, CacheKey now, size_t position,
                                             const std::map<std::string, ValueId>& state) {
    for (const auto& [name, value] : previous.parts()) {
        if (now.part(name)) continue;
        if (name.rfind("use:", 0) == 0) add_use_part(now, position, name.substr(4), state);
        if (name.rfind("file:", 0) == 0) now.add_file(name.substr(5), scan_.file_digest(name.substr(5)));
        if (name.rfind("wrote:", 0) == 0) now.add_written_file(name.substr(6), scan_.file_digest(name.substr(6)));
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
    if (const Execution* last = last_execution(id); last != nullptr && last->code == code) {
        if (std::optional<Reason> reason = uncacheable_run_reason(*last))
            return "Cache: [" + label(id) + "] cannot be cached as it last ran: " + describe(*reason, cell_namer()) +
                   ".";
    }
    const CellAnalysis& analysis = analysis_of(code);
    std::map<std::string, ValueId> state = scan_.state_before(*at);
    std::set<std::string> uses = analysis.uses;
    uses.insert(implicit_reads().begin(), implicit_reads().end());
    if (const Execution* execution = last_execution(id)) uses.insert(execution->uses.begin(), execution->uses.end());
    std::optional<CacheKey> now = analysis.parsed ? cache_key_for(*at, id, analysis, code, uses, state) : std::nullopt;
    if (!now) {
        Reason reason = analysis.parsed ? why_no_key(code, analysis) : Reason(ReasonKind::DoesNotParse);
        return "Cache: [" + label(id) + "] cannot be cached as it is now: " + describe(reason, cell_namer()) + ".";
    }
    if (previous == last_keys_.end()) return std::string();
    std::vector<std::string> changes = key_changes(previous->second, *now, *at, state);
    if (changes.empty())
        return "Cache: running [" + label(id) + "] now would be served from the cache (same key as its last run).";
    std::string text;
    for (const auto& change : changes) {
        text += (text.empty() ? "" : "; ") + describe(Reason::key_part_changed(change), cell_namer());
    }
    return "Cache: [" + label(id) + "] would recompute: " + text + ".";
}

} // namespace ripple::dag
