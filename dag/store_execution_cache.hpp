// store_execution_cache.hpp: the engine's ExecutionCache interface served by the persistent CacheStore.
// Pure C++: translates CachedRun <-> CacheEntry; must not know about R or how the engine decides to cache.
#pragma once

#include "dag/cache_store.hpp"
#include "dag/execution_cache.hpp"

namespace ripple::dag {

class StoreExecutionCache final : public ExecutionCache {
public:
    explicit StoreExecutionCache(CacheStore& store) : store_(store) {}

    std::optional<CachedRun> find(const std::string& digest) override;
    void store(const std::string& digest, const CachedRun& execution) override;
    bool has_value(const std::string& hash) override { return store_.has_value(hash); }
    std::optional<std::string> load_value(const std::string& hash) override { return store_.load_value(hash); }
    void store_value(const std::string& hash, const std::string& bytes) override { store_.put_value(hash, bytes); }
    std::optional<SharedBytes> map_value(const std::string& hash) override { return store_.map_value(hash); }
    std::optional<std::string> new_value_file() override {
        std::optional<std::filesystem::path> file = store_.new_value_file();
        if (!file) return std::nullopt;
        return file->string();
    }
    bool adopt_value_file(const std::string& hash, const std::string& file, std::uint64_t bytes) override {
        return store_.adopt_value_file(hash, file, bytes);
    }
    std::optional<std::string> find_replay_step(const std::string& state, const std::string& request) override {
        return store_.replay_step(state, request);
    }
    void store_replay_step(const std::string& state, const std::string& request, const std::string& entry_key,
                           const std::string& step_json) override {
        store_.remember_replay_step(state, request, entry_key, step_json);
    }

private:
    CacheStore& store_;
};

} // namespace ripple::dag
