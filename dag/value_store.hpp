// value_store.hpp: what the engine keeps of large values (SPEC 4, issue 15): an identity derived from the run that made
// each one, its bytes written to the cache by a forked child when loading beats recomputing, and earlier versions
// dropped from memory beyond a RAM budget, to be loaded or rebuilt when a rerun needs them. Pure C++, no R.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dag/cache_key.hpp"
#include "dag/cell_runtime.hpp"
#include "dag/execution_cache.hpp"

namespace ripple::dag {

struct ValueStoreSettings {
    // Values at least this large take the value store's path (RIPPLE_LARGE_VALUE; bytes, or 32M, 1G).
    std::uint64_t large_bytes = std::uint64_t{32} << 20U;
    // Memory for versions the document's end no longer binds (RIPPLE_MEMORY_BUDGET): the smaller of 1 GiB and an
    // eighth of the memory limit (the cgroup's, else the machine's). The live state is never counted or evicted.
    std::uint64_t budget_bytes = std::uint64_t{1} << 30U;
    // How fast a stored value comes back (read + unserialize), for the choice between storing and recomputing.
    double load_bytes_per_second = 500e6;

    // From the environment; a value that does not parse is one line in `warnings` and the default.
    static ValueStoreSettings from_environment(std::vector<std::string>& warnings);
};

class ValueStore {
public:
    explicit ValueStore(CellRuntime& runtime) : runtime_(runtime) {}

    void set_settings(const ValueStoreSettings& settings) { settings_ = settings; }
    const ValueStoreSettings& settings() const { return settings_; }
    void set_cache(ExecutionCache* cache) { cache_ = cache; }

    // The identity a value bound by a keyed run answers as its hash: SHA-256 of the run's full key and the symbol. A
    // run with the same key binds the same value (the cache's premise), so this needs no look at the content.
    static std::string derived_identity(const CacheKey& key, const std::string& symbol);

    // The value's size when it is large, else nullopt (measured once per value).
    std::optional<std::uint64_t> large_size(ValueId value);
    // A large value with a known hash (derived, or its bytes are stored): it may leave memory.
    void track(ValueId value, std::uint64_t bytes);
    // Its bytes are in the cache under `hash`: it comes back by loading, not by rerunning its cell.
    void note_stored(ValueId value, const std::string& hash);
    // Storing pays when the run took clearly longer (twice) than loading the value back would.
    bool worth_storing(std::uint64_t bytes, double run_seconds) const;
    // The value was released: nothing more to keep about it (a large one's memory is given back at the next
    // evict_beyond_budget).
    void forget(ValueId value);

    // An entry whose large values forked children are writing: stored once all are written (complete_writes).
    struct PendingValue {
        std::string symbol;
        ValueId value = kUnbound;
        std::uint64_t ticket = 0;
        std::string file;
    };
    void defer(std::string digest, CachedRun entry, std::vector<PendingValue> values);
    // Publishes finished writes and stores the entries whose values are all written (with `wait`, all of them).
    void complete_writes(bool wait);
    bool writing() const { return !pending_.empty(); }
    // What went wrong since the last call, one sentence each (a full disk), each said once per session.
    std::vector<std::string> take_warnings() { return std::exchange(warnings_, {}); }

    // Drops from memory tracked values that `live` (what the document's end binds) does not hold, largest first,
    // until the rest fits the budget; no single value over a quarter of the budget is kept.
    void evict_beyond_budget(const std::set<ValueId>& live);
    bool any_evicted() const { return evicted_ > 0; }
    bool holds_evictable() const { return tracked_.size() > evicted_ || released_ > 0; }
    // An evicted value back from the cache (its write finished first if it is still running). False when it is not
    // stored (or the cache lost it): its defining cell must run again.
    bool load(ValueId value);
    // Evicted after a rebuild gave it its object back (adopt): resident again.
    void note_resident(ValueId value);
    // A value served from the cache and not loaded yet (bound lazily), stored under `hash`.
    void track_lazy(ValueId value, const std::string& hash);
    // Whether an evicted or lazy value can come back by loading (else only by rerunning its cell).
    bool loadable(ValueId value) const;
    // The stored bytes of a tracked value (its write finished first if still running); nullopt if not stored.
    std::optional<SharedBytes> bytes_of(ValueId value);

private:
    struct Tracked {
        std::uint64_t bytes = 0;
        std::string stored_hash; // "" when the cache does not hold it
        bool evicted = false;
        std::uint64_t pending_ticket = 0;
    };
    struct PendingEntry {
        std::string digest;
        CachedRun entry;
        std::vector<PendingValue> values;
        bool failed = false;
    };
    void finish_value(PendingEntry& pending, PendingValue& value, const CellRuntime::ValueWrite& result);

    CellRuntime& runtime_;
    ExecutionCache* cache_ = nullptr;
    ValueStoreSettings settings_;
    std::map<ValueId, std::optional<std::uint64_t>> sizes_; // large_size's answers (nullopt: small)
    std::map<ValueId, Tracked> tracked_;
    std::vector<PendingEntry> pending_;
    std::set<std::string> said_;
    std::vector<std::string> warnings_;
    std::size_t evicted_ = 0;
    std::uint64_t released_ = 0; // bytes of large values released since the last evict_beyond_budget
};

} // namespace ripple::dag
