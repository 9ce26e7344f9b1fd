// cache_stress.cpp: a driver that hammers, fills and verifies one cache directory, so that tests can run several
// processes on it at once and damage it in between. Every entry's content follows from its number, so any
// process can check any hit byte for byte. Knows only dag::CacheStore; prints one JSON summary line.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dag/cache_store.hpp"
#include "dag/sha256.hpp"

using namespace ripple::dag;

namespace {

int usage() {
    std::cerr << "usage: cache_stress hammer|fill|verify|gc|stats DIR [--keys N] [--ops N] [--worker N] [--seed N]\n"
                 "                    [--busy-ms N] [--expect all|none|any] [--max-bytes N] [--big-bytes N]\n"
                 "                    [--grace-seconds N] [--reopen-every N] [--limit-bytes N]\n";
    return 2;
}

std::string bytes_for(std::uint64_t seed, std::size_t size) {
    std::mt19937_64 generator(seed);
    std::string bytes(size, '\0');
    for (std::size_t i = 0; i < size; i += 8) {
        std::uint64_t word = generator();
        for (std::size_t j = 0; j < 8 && i + j < size; ++j) bytes[i + j] = static_cast<char>((word >> (8 * j)) & 0xffU);
    }
    return bytes;
}

// Entry number k: its key, outputs and values (symbol -> bytes), all derived from k.
struct Expected {
    std::string key;
    std::string outputs;
    std::map<std::string, std::string> values;
};

Expected expected(int k, std::size_t big_bytes) {
    Expected e;
    CacheKey key;
    key.set_code("entry " + std::to_string(k));
    e.key = key.digest();
    e.outputs = nlohmann::json::array(
                    {{{"type", "stream"}, {"text", "entry " + std::to_string(k) + "\n"}},
                     {{"type", "display"}, {"text", std::string(static_cast<std::size_t>(k % 7) * 300, 'o')}}})
                    .dump();
    e.values["small"] = bytes_for(1000 + static_cast<std::uint64_t>(k), 100 + static_cast<std::size_t>(k % 500));
    e.values["common"] = bytes_for(7, 3000); // the same value in every entry: stored once
    if (k % 3 == 0)
        e.values["big"] = bytes_for(5000 + static_cast<std::uint64_t>(k), big_bytes + static_cast<std::size_t>(k) * 97);
    return e;
}

struct Counts {
    int hits = 0, misses = 0, stores = 0, store_failures = 0, wrong = 0, warnings = 0;
    std::set<int> stored;
};

// Checks a fetched entry against what entry k must hold; prints what differs.
bool verify(int k, const CachedExecution& hit, const Expected& e) {
    bool ok = hit.entry.outputs_json == e.outputs && hit.entry.values.size() == e.values.size();
    for (const auto& [symbol, bytes] : e.values) {
        auto found = hit.entry.values.find(symbol);
        if (found == hit.entry.values.end() || found->second != sha256_hex(bytes)) {
            ok = false;
            continue;
        }
        auto loaded = hit.value_bytes.find(found->second);
        ok = ok && loaded != hit.value_bytes.end() && loaded->second == bytes;
    }
    if (!ok) std::cerr << "WRONG: entry " << k << " came back with other content\n";
    return ok;
}

bool store_entry(CacheStore& store, int k, const Expected& e) {
    CacheEntry entry;
    entry.key = e.key;
    entry.outputs_json = e.outputs;
    CacheKey key;
    key.set_code("entry " + std::to_string(k));
    entry.key_parts_json = key.to_json();
    for (const auto& [symbol, bytes] : e.values) {
        std::string hash = sha256_hex(bytes);
        if (!store.put_value(hash, bytes)) return false;
        entry.values[symbol] = hash;
    }
    return store.store(entry);
}

// Looks entry k up; on a hit verifies it, on a miss "recomputes" and stores it.
void visit(CacheStore& store, int k, std::size_t big_bytes, bool store_on_miss, Counts& counts) {
    Expected e = expected(k, big_bytes);
    if (std::optional<CachedExecution> hit = store.fetch(e.key)) {
        ++counts.hits;
        if (!verify(k, *hit, e)) ++counts.wrong;
        return;
    }
    ++counts.misses;
    if (!store_on_miss) return;
    if (store_entry(store, k, e)) {
        ++counts.stores;
        counts.stored.insert(k);
    } else {
        ++counts.store_failures;
    }
}

} // namespace

int main(int argc, char* argv[]) {
    // A file size limit (RLIMIT_FSIZE) must give EFBIG, not kill the process.
    std::signal(SIGXFSZ, SIG_IGN);
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 2) return usage();
    const std::string mode = args[0];
    std::map<std::string, std::string> flags;
    for (std::size_t i = 2; i + 1 < args.size(); i += 2) flags[args[i]] = args[i + 1];
    auto flag = [&](const std::string& name, long long fallback) {
        auto found = flags.find(name);
        return found == flags.end() ? fallback : std::stoll(found->second);
    };
    const int keys = static_cast<int>(flag("--keys", 50));
    const int ops = static_cast<int>(flag("--ops", 200));
    const int worker = static_cast<int>(flag("--worker", 0));
    const auto big_bytes = static_cast<std::size_t>(flag("--big-bytes", 40'000));
    const std::string expect = flags.count("--expect") ? flags["--expect"] : "any";

    Counts counts;
    CacheStoreOptions options;
    options.directory = args[1];
    options.inline_value_limit = 4096;
    options.busy_timeout_ms = static_cast<int>(flag("--busy-ms", 10'000));
    options.orphan_grace_seconds = flag("--grace-seconds", 600);
    options.max_bytes = static_cast<std::uint64_t>(flag("--limit-bytes", 0)); // the disk budget (0: none)
    options.on_warning = [&counts](const std::string& line) {
        ++counts.warnings;
        std::cerr << "warning: " << line << '\n';
    };
    try {
        CacheStore store(options);
        nlohmann::json summary = {{"mode", mode}, {"worker", worker}};
        const auto started = std::chrono::steady_clock::now();
        if (mode == "hammer") {
            std::mt19937 generator(static_cast<unsigned>(flag("--seed", 1) * 7919 + worker));
            std::uniform_int_distribution<int> pick(0, keys - 1);
            const int reopen_every = static_cast<int>(flag("--reopen-every", 0));
            for (int i = 0; i < ops; ++i) {
                // A new store object, as a new run or kernel would open: a fresh SQLite connection.
                if (reopen_every > 0 && i > 0 && i % reopen_every == 0) store = CacheStore(options);
                visit(store, pick(generator), big_bytes, true, counts);
            }
        } else if (mode == "fill") {
            for (int k = 0; k < keys; ++k) visit(store, k, big_bytes, true, counts);
        } else if (mode == "verify") {
            for (int k = 0; k < keys; ++k) visit(store, k, big_bytes, false, counts);
        } else if (mode == "gc") {
            GcReport report = store.gc(static_cast<std::uint64_t>(flag("--max-bytes", 0)));
            summary["gc"] = {{"entries_removed", report.entries_removed},
                             {"values_removed", report.values_removed},
                             {"files_removed", report.files_removed},
                             {"bytes_before", report.bytes_before},
                             {"bytes_after", report.bytes_after}};
        } else if (mode != "stats") {
            return usage();
        }
        summary["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        CacheStats stats = store.stats();
        summary["stats"] = {{"entries", stats.entries},
                            {"values", stats.values},
                            {"total_bytes", stats.total_bytes},
                            {"database_file_bytes", stats.database_file_bytes},
                            {"evictions", stats.session_evictions}};
        summary["usable"] = store.usable();
        summary["writable"] = store.writable();
        summary.update({{"hits", counts.hits},
                        {"misses", counts.misses},
                        {"stores", counts.stores},
                        {"store_failures", counts.store_failures},
                        {"wrong", counts.wrong},
                        {"warnings", counts.warnings},
                        {"stored_keys", counts.stored}});
        std::cout << summary.dump() << std::endl;
    } catch (const std::exception& error) {
        std::cerr << "cache_stress: an exception escaped the cache store: " << error.what() << '\n';
        return 3;
    }
    if (counts.wrong > 0) return 1;
    if (expect == "all" && counts.misses > 0) return 4;
    if (expect == "none" && counts.hits > 0) return 4;
    return 0;
}
