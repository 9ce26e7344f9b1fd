// execution_cache.hpp: what the engine asks of a persistent cache of cell executions (SPEC section 5):
// entries by key digest and values by content hash. Pure C++; the SQLite store implements it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "dag/cache_key.hpp"
#include "dag/shared_bytes.hpp"

namespace ripple::dag {

// One cached execution: everything needed to reproduce it without running the code.
struct CachedRun {
    CacheKey key;                              // the full key, incl. parts known only after the run (RNG use)
    std::string outputs;                       // recorded outputs, replayed in order (JSON)
    std::map<std::string, std::string> values; // symbol -> value hash of what it bound; "" = it removed it
    // Symbols whose value's identity in keys is derived from this entry's key, not its content hash (large values:
    // dag/value_store.hpp). Their bytes are still stored and verified under `values`' content hash.
    std::set<std::string> derived;
    double seconds = 0; // how long the run took
};

class ExecutionCache {
public:
    virtual ~ExecutionCache() = default;
    // nullopt on a miss, including a damaged entry (which the cache drops and warns about).
    virtual std::optional<CachedRun> find(const std::string& digest) = 0;
    virtual void store(const std::string& digest, const CachedRun& execution) = 0;
    virtual bool has_value(const std::string& hash) = 0;
    // The bytes stored under `hash`, verified; nullopt if missing or damaged.
    virtual std::optional<std::string> load_value(const std::string& hash) = 0;
    virtual void store_value(const std::string& hash, const std::string& bytes) = 0;
    // load_value without a copy where the cache can (a value file mapped read-only).
    virtual std::optional<SharedBytes> map_value(const std::string& hash) {
        std::optional<std::string> bytes = load_value(hash);
        if (!bytes) return std::nullopt;
        return SharedBytes::of(std::move(*bytes));
    }
    // A value written elsewhere (a forked writer): a fresh file to write it to (nullopt: nowhere), then published
    // as `hash` by adopt_value_file (false: dropped, the file removed).
    virtual std::optional<std::string> new_value_file() { return std::nullopt; }
    virtual bool adopt_value_file(const std::string& /*hash*/, const std::string& /*file*/, std::uint64_t /*bytes*/) {
        return false;
    }
    // Replay steps (dag/replay_chain.hpp) by the session state before a cell and the cell's request; a cache
    // without them keeps none. `entry_key`: the entry the step serves ("" for a step with its own outputs).
    virtual std::optional<std::string> find_replay_step(const std::string& /*state*/, const std::string& /*request*/) {
        return std::nullopt;
    }
    virtual void store_replay_step(const std::string& /*state*/, const std::string& /*request*/,
                                   const std::string& /*entry_key*/, const std::string& /*step_json*/) {}
};

// How a front door wants the cache used.
enum class CacheUse {
    Off, // neither read nor write (--no-cache, RIPPLE_CACHE=off)
    ReadWrite,
    WriteOnly // --force: recompute everything, refresh the entries
};

} // namespace ripple::dag
