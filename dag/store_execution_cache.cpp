// store_execution_cache.cpp: CachedRun <-> CacheEntry. Symbols a run removed (value hash "") and those with derived
// identities travel in the entry's metadata, since the store only names values it holds. Must not know about R.
#include "dag/store_execution_cache.hpp"

#include <nlohmann/json.hpp>

namespace ripple::dag {

std::optional<CachedRun> StoreExecutionCache::find(const std::string& digest) {
    std::optional<CacheEntry> entry = store_.lookup(digest);
    if (!entry) return std::nullopt;
    std::optional<CacheKey> key = CacheKey::from_json(entry->key_parts_json);
    nlohmann::json metadata = nlohmann::json::parse(entry->metadata_json, nullptr, false);
    if (!key || metadata.is_discarded() || !metadata.is_object()) {
        store_.invalidate(digest);
        return std::nullopt;
    }
    CachedRun run;
    run.key = std::move(*key);
    run.outputs = std::move(entry->outputs_json);
    run.values = std::move(entry->values);
    run.seconds = entry->run_seconds;
    if (auto removed = metadata.find("removed"); removed != metadata.end() && removed->is_array()) {
        for (const auto& symbol : *removed) {
            if (symbol.is_string()) run.values[symbol.get<std::string>()] = "";
        }
    }
    if (auto derived = metadata.find("derived"); derived != metadata.end() && derived->is_array()) {
        for (const auto& symbol : *derived) {
            if (symbol.is_string()) run.derived.insert(symbol.get<std::string>());
        }
    }
    return run;
}

void StoreExecutionCache::store(const std::string& digest, const CachedRun& execution) {
    CacheEntry entry;
    entry.key = digest;
    entry.outputs_json = execution.outputs.empty() ? "[]" : execution.outputs;
    entry.key_parts_json = execution.key.to_json();
    entry.run_seconds = execution.seconds;
    nlohmann::json removed = nlohmann::json::array();
    for (const auto& [symbol, hash] : execution.values) {
        if (hash.empty()) {
            removed.push_back(symbol);
        } else {
            entry.values[symbol] = hash;
        }
    }
    nlohmann::json metadata{{"removed", removed}};
    if (!execution.derived.empty()) metadata["derived"] = execution.derived;
    entry.metadata_json = metadata.dump();
    store_.store(entry);
}

} // namespace ripple::dag
