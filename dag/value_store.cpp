// value_store.cpp: settings from the environment, derived identities, deferred entries of forked writes, eviction by
// budget and loading back. The engine (engine.cpp, engine_cache.cpp) decides when; this keeps the books.
#include "dag/value_store.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include "dag/cache_store.hpp"
#include "dag/sha256.hpp"

namespace ripple::dag {

namespace {

// The memory this process may use: the cgroup's limit when there is one, else the machine's.
std::uint64_t memory_limit() {
    std::uint64_t limit = 0;
    if (std::ifstream cgroup("/sys/fs/cgroup/memory.max"); cgroup) {
        std::string text;
        cgroup >> text;
        if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0])))
            limit = std::strtoull(text.c_str(), nullptr, 10);
    }
    if (std::ifstream meminfo("/proc/meminfo"); meminfo) {
        std::string name, unit;
        std::uint64_t kilobytes = 0;
        while (meminfo >> name >> kilobytes >> unit) {
            if (name == "MemTotal:") {
                std::uint64_t machine = kilobytes * 1024;
                if (limit == 0 || machine < limit) limit = machine;
                break;
            }
        }
    }
    return limit;
}

} // namespace

ValueStoreSettings ValueStoreSettings::from_environment(std::vector<std::string>& warnings) {
    ValueStoreSettings settings;
    if (std::uint64_t limit = memory_limit(); limit > 0)
        settings.budget_bytes = std::min(settings.budget_bytes, limit / 8);
    auto read = [&](const char* name, std::uint64_t& into) {
        const char* text = std::getenv(name);
        if (text == nullptr || *text == '\0') return;
        // The store's own parser (RIPPLE_CACHE_MAX_SIZE reads the same way), but 0 is a budget: keep nothing.
        std::optional<std::uint64_t> bytes = parse_byte_size(text, /*zero_allowed=*/true);
        if (bytes) {
            into = *bytes;
        } else {
            warnings.push_back(std::string("ripple: ") + name + "=" + text +
                               " is not a size (bytes, or with K, M, G as in 512M); using the default.");
        }
    };
    read("RIPPLE_MEMORY_BUDGET", settings.budget_bytes);
    read("RIPPLE_LARGE_VALUE", settings.large_bytes);
    if (settings.large_bytes == 0) settings.large_bytes = 1;
    return settings;
}

std::string ValueStore::derived_identity(const CacheKey& key, const std::string& symbol) {
    Sha256 digest;
    digest.update_framed("ripple derived value identity 1");
    digest.update_framed(key.digest());
    digest.update_framed(symbol);
    return digest.hex_digest();
}

std::optional<std::uint64_t> ValueStore::large_size(ValueId value) {
    auto known = sizes_.find(value);
    if (known != sizes_.end()) return known->second;
    std::optional<std::uint64_t> bytes = runtime_.value_bytes(value);
    if (bytes && *bytes < settings_.large_bytes) bytes.reset();
    sizes_.emplace(value, bytes);
    return bytes;
}

void ValueStore::track(ValueId value, std::uint64_t bytes) { tracked_[value].bytes = bytes; }

void ValueStore::note_stored(ValueId value, const std::string& hash) {
    auto found = tracked_.find(value);
    if (found != tracked_.end()) found->second.stored_hash = hash;
}

bool ValueStore::worth_storing(std::uint64_t bytes, double run_seconds) const {
    // Twice: a stored value also costs its disk space and a child's write, and a run's time varies with the load.
    return run_seconds > 2 * static_cast<double>(bytes) / settings_.load_bytes_per_second;
}

void ValueStore::forget(ValueId value) {
    if (auto size = sizes_.find(value); size != sizes_.end()) {
        if (size->second && runtime_.resident(value)) released_ += *size->second;
    }
    sizes_.erase(value);
    auto found = tracked_.find(value);
    if (found == tracked_.end()) return;
    if (found->second.evicted) --evicted_;
    tracked_.erase(found);
}

void ValueStore::note_resident(ValueId value) {
    auto found = tracked_.find(value);
    if (found == tracked_.end() || !found->second.evicted) return;
    found->second.evicted = false;
    --evicted_;
}

void ValueStore::defer(std::string digest, CachedRun entry, std::vector<PendingValue> values) {
    for (const auto& value : values) {
        if (auto found = tracked_.find(value.value); found != tracked_.end())
            found->second.pending_ticket = value.ticket;
    }
    pending_.push_back(PendingEntry{std::move(digest), std::move(entry), std::move(values), false});
}

void ValueStore::finish_value(PendingEntry& pending, PendingValue& value, const CellRuntime::ValueWrite& result) {
    auto found = tracked_.find(value.value);
    if (found != tracked_.end()) found->second.pending_ticket = 0;
    value.ticket = 0;
    if (result.ok && cache_ != nullptr && cache_->adopt_value_file(result.hash, value.file, result.bytes)) {
        pending.entry.values[value.symbol] = result.hash;
        if (found != tracked_.end()) found->second.stored_hash = result.hash;
        return;
    }
    pending.failed = true;
    if (!result.ok) {
        std::string line = "ripple: a value could not be written to the cache (" + result.error +
                           "); it is recomputed when needed, never served wrong.";
        if (said_.insert(line).second) warnings_.push_back(line);
    }
}

void ValueStore::complete_writes(bool wait) {
    for (auto& pending : pending_) {
        for (auto& value : pending.values) {
            if (value.ticket == 0) continue;
            std::optional<CellRuntime::ValueWrite> result = runtime_.poll_value_write(value.ticket, wait);
            if (result) finish_value(pending, value, *result);
        }
    }
    auto done = [](const PendingEntry& pending) {
        return std::all_of(pending.values.begin(), pending.values.end(),
                           [](const PendingValue& value) { return value.ticket == 0; });
    };
    for (auto& pending : pending_) {
        if (done(pending) && !pending.failed && cache_ != nullptr) cache_->store(pending.digest, pending.entry);
    }
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(), done), pending_.end());
}

void ValueStore::evict_beyond_budget(const std::set<ValueId>& live) {
    std::vector<std::pair<std::uint64_t, ValueId>> resident;
    std::uint64_t total = 0;
    for (auto& [value, tracked] : tracked_) {
        if (tracked.evicted && runtime_.resident(value)) { // R read it through its promise: it is back
            tracked.evicted = false;
            --evicted_;
        }
        if (tracked.evicted || live.count(value)) continue;
        resident.emplace_back(tracked.bytes, value);
        total += tracked.bytes;
    }
    std::sort(resident.rbegin(), resident.rend());
    std::uint64_t freed = std::exchange(released_, 0); // large values released since (a cell rebound them)
    for (const auto& [bytes, value] : resident) {
        if (total <= settings_.budget_bytes && bytes <= settings_.budget_bytes / 4) continue;
        if (!runtime_.evict(value)) continue;
        tracked_[value].evicted = true;
        ++evicted_;
        total -= bytes;
        freed += bytes;
    }
    // R frees what nobody refers to at its next collection, which a large heap makes rare: a plain kernel would have
    // let go of these versions as they were overwritten, so ripple gives their memory back now.
    if (freed >= settings_.large_bytes) runtime_.collect_garbage();
}

void ValueStore::track_lazy(ValueId value, const std::string& hash) {
    Tracked& tracked = tracked_[value];
    tracked.bytes = settings_.large_bytes; // not known until loaded
    tracked.stored_hash = hash;
    if (!tracked.evicted) ++evicted_;
    tracked.evicted = true;
}

bool ValueStore::loadable(ValueId value) const {
    auto found = tracked_.find(value);
    return found != tracked_.end() && (!found->second.stored_hash.empty() || found->second.pending_ticket != 0);
}

std::optional<SharedBytes> ValueStore::bytes_of(ValueId value) {
    auto found = tracked_.find(value);
    if (found == tracked_.end() || cache_ == nullptr) return std::nullopt;
    if (found->second.pending_ticket != 0) complete_writes(true); // its bytes are still on their way
    found = tracked_.find(value);
    if (found == tracked_.end() || found->second.stored_hash.empty()) return std::nullopt;
    std::optional<SharedBytes> bytes = cache_->map_value(found->second.stored_hash);
    if (bytes) found->second.bytes = bytes->bytes.size();
    return bytes;
}

bool ValueStore::load(ValueId value) {
    std::optional<SharedBytes> bytes = bytes_of(value);
    if (!bytes || !runtime_.refill(value, *bytes)) return false;
    note_resident(value);
    return true;
}

} // namespace ripple::dag
