// cache_store.hpp: the persistent content-addressed cache of cell executions (SPEC section 5): entries by key
// digest, values once by value hash (small in SQLite, large as files), LRU gc, the disk budget. Pure C++, no R.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dag/byte_size.hpp"
#include "dag/cache_key.hpp"
#include "dag/remote_cache.hpp"
#include "dag/shared_bytes.hpp"

namespace ripple::dag {

// Receives each problem the store met, as one line ("ripple cache: ..."); the store never throws for
// I/O problems, it degrades to a miss or a skipped store. The same line is reported once per store.
using CacheWarningHandler = std::function<void(const std::string& line)>;

struct CacheStoreOptions {
    std::filesystem::path directory;            // see CacheStore::resolve_directory
    std::size_t inline_value_limit = 64 * 1024; // values up to this size live in SQLite, larger ones as files
    int busy_timeout_ms = 5000;                 // how long to wait for another process's write
    std::int64_t orphan_grace_seconds = 600;    // gc keeps unreferenced values and stray files this long
    bool verify_values_on_put = true;           // put_value checks that SHA-256(bytes) is the given hash
    CacheWarningHandler on_warning;             // default: print to stderr
    // The team's second level (remote_cache.hpp): entries missing here are looked up there (and kept here), new
    // entries and replay steps are uploaded behind the caller's back. nullopt: local only.
    std::optional<RemoteCacheSettings> remote;
    // The disk budget (SPEC 5), kept after each store by LRU eviction down to 90% of it; 0: none (gc only when
    // asked). The front doors pass CacheStore::size_limit_from_environment(). What this store object looked up or
    // stored (entries and the values they name) is never evicted by it: the live session needs it.
    std::uint64_t max_bytes = 0;
};

// One cached cell execution. The front doors define outputs_json (an ordered JSON array of streams, displays,
// warnings, errors) and metadata_json (e.g. removed symbols, attached packages); the store keeps both verbatim.
struct CacheEntry {
    std::string key; // CacheKey::digest()
    std::string outputs_json = "[]";
    std::map<std::string, std::string> values; // defined symbol -> value hash (each stored with put_value)
    std::string metadata_json = "{}";
    std::string key_parts_json;     // CacheKey::to_json(), for why()
    double run_seconds = 0;         // how long the original run took
    std::int64_t created_at_ms = 0; // filled in by the store
    std::int64_t last_used_at_ms = 0;
    std::int64_t hit_count = 0;
    std::uint64_t size_bytes = 0;
};

// An entry with the bytes of every value it defines, each verified against its hash.
struct CachedExecution {
    CacheEntry entry;
    std::map<std::string, std::string> value_bytes; // value hash -> bytes
};

struct CacheStats {
    std::uint64_t entries = 0;
    std::uint64_t values = 0;
    std::uint64_t inline_values = 0;
    std::uint64_t file_values = 0;
    std::uint64_t entry_bytes = 0;
    std::uint64_t value_bytes = 0;
    std::uint64_t total_bytes = 0;         // entry_bytes + value_bytes: what gc bounds
    std::uint64_t database_file_bytes = 0; // cache.sqlite and its WAL on disk
    std::uint64_t recorded_hits = 0;       // hits over the cache's lifetime, all processes
    std::uint64_t session_hits = 0;        // lookups answered by this store object
    std::uint64_t session_misses = 0;
    std::uint64_t remote_hits = 0;         // entries and replay steps fetched from the team cache, all processes
    std::uint64_t remote_uploads = 0;      // entries and replay steps this cache uploaded to it, all processes
    std::uint64_t session_remote_hits = 0; // of this store object's hits, those fetched from the team cache
    std::string remote_url;                // the team cache this store uses ("" if none)
    std::uint64_t size_limit = 0;          // CacheStoreOptions::max_bytes of this store object (0: none)
    std::uint64_t session_evictions = 0;   // entries this store object evicted to keep the limit
};

struct GcReport {
    std::uint64_t entries_removed = 0;
    std::uint64_t values_removed = 0;
    std::uint64_t files_removed = 0; // value files and stray temporary files
    std::uint64_t bytes_before = 0;
    std::uint64_t bytes_after = 0;
};

// Several processes may share one directory (SQLite WAL + busy timeout; files published by rename). One object
// serves one thread; open one per thread or process.
class CacheStore {
public:
    // explicit_dir if not empty, else $RIPPLE_CACHE_DIR, else $XDG_CACHE_HOME/ripple, else ~/.cache/ripple.
    static std::filesystem::path resolve_directory(const std::filesystem::path& explicit_dir = {});
    // $RIPPLE_CACHE_MAX_SIZE (parse_byte_size), else default_size_limit(directory). A value that does not parse is
    // one warning line and the default.
    static std::uint64_t size_limit_from_environment(const std::filesystem::path& directory,
                                                     const CacheWarningHandler& on_warning);
    // The smaller of 5 GB and 10% of the file system holding `directory` (or its nearest existing parent).
    static std::uint64_t default_size_limit(const std::filesystem::path& directory);

    // Opens or creates the cache in options.directory (empty: resolve_directory()). Never throws for I/O
    // problems: an unusable directory gives a store whose lookups miss and whose stores are skipped.
    explicit CacheStore(CacheStoreOptions options);
    ~CacheStore();
    CacheStore(const CacheStore&) = delete;
    CacheStore& operator=(const CacheStore&) = delete;
    CacheStore(CacheStore&&) noexcept;
    CacheStore& operator=(CacheStore&&) noexcept;

    const std::filesystem::path& directory() const;
    bool usable() const;   // the database could be opened (lookups can hit)
    bool writable() const; // stores can be tried (false for a read-only directory or database)

    // --- values: stored once by hash -----------------------------------------------------------
    // Stores bytes under their SHA-256 (lowercase hex). False (with a warning) when skipped.
    bool put_value(const std::string& hash, std::string_view bytes);
    bool has_value(const std::string& hash);
    // The bytes, verified against the hash. A corrupt, truncated or missing value is removed with
    // every entry that uses it, reported once, and answered with nullopt.
    std::optional<std::string> load_value(const std::string& hash);
    // The same for a large value without copying it: its file mapped read-only (verified the same way).
    std::optional<SharedBytes> map_value(const std::string& hash);

    // A value written by someone else (a forked writer): new_value_file() names a fresh file in the store's
    // temporary folder (nullopt: the store is not writable), adopt_value_file() publishes the finished file as the
    // value `hash` (its SHA-256, computed by the writer as it wrote) or removes it on failure.
    std::optional<std::filesystem::path> new_value_file();
    bool adopt_value_file(const std::string& hash, const std::filesystem::path& file, std::uint64_t size);

    // --- entries -----------------------------------------------------------------------------------
    // Stores (or replaces) an entry; every value hash it names must have been put first.
    bool store(const CacheEntry& entry);
    // The entry if present and intact (its checksum verifies and its values exist with their sizes);
    // counts a hit or a miss. Reads only: the hit is recorded in the entry (hit_count, last use for LRU) by
    // record_hits(), and the entry returned carries the values from before.
    std::optional<CacheEntry> lookup(const std::string& key);
    // lookup() plus every value's bytes, verified; any bad value makes it a miss.
    std::optional<CachedExecution> fetch(const std::string& key);
    // Drops one entry (e.g. a caller found it unusable).
    void invalidate(const std::string& key);
    // Writes the hits lookup() counted since the last time, in one transaction (best effort). Also done by
    // stats(), gc() and the destructor, and by lookup() itself once 256 entries or a minute of hits wait; a
    // long-lived caller (the kernel) calls it when it has nothing else to do.
    void record_hits();

    // --- why(): the last key seen for a cell, by the caller's scope (notebook path) and cell id --------
    void remember_cell_key(const std::string& scope, const std::string& cell, const CacheKey& key);
    // Many at once, in one transaction (a run that serves a whole notebook remembers them together).
    struct CellKeyRecord {
        std::string scope, cell;
        CacheKey key;
    };
    void remember_cell_keys(const std::vector<CellKeyRecord>& records);
    std::optional<CacheKey> last_cell_key(const std::string& scope, const std::string& cell);

    // --- replay steps (dag/replay_chain.hpp): how a cell's run follows from the session state before it ------
    // `key`: the cache entry the step serves ("" for a step that carries its outputs); gc drops steps whose entry
    // is gone. Both are best effort: a failure is a warning and a missing step.
    void remember_replay_step(const std::string& state, const std::string& request, const std::string& key,
                              const std::string& step_json);
    std::optional<std::string> replay_step(const std::string& state, const std::string& request);

    // --- file inputs: content hash with a size + mtime + inode fast path kept across sessions ---------
    // nullopt when the file does not exist or cannot be read.
    std::optional<std::string> file_digest(const std::filesystem::path& path);

    // --- housekeeping ----------------------------------------------------------------------------
    // Removes least recently used entries (and the values only they used) until entries + values take at
    // most max_bytes; also removes unreferenced values and stray files older than the grace period.
    GcReport gc(std::uint64_t max_bytes);
    CacheStats stats();
    // Removes every entry, value and file of the cache; false (with a warning) if it could not.
    bool clear();

private:
    std::optional<CacheEntry> lookup_here(const std::string& key);
    bool store_here(const CacheEntry& entry);
    bool store_replay_step_here(const std::string& state, const std::string& request, const std::string& key,
                                const std::string& step_json);
    bool import_remote_entry(const std::string& key);
    std::optional<std::string> import_remote_replay_step(const std::string& state, const std::string& request);

    struct State;
    std::unique_ptr<State> state_;
};

} // namespace ripple::dag
