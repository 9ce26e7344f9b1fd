// remote_cache.hpp: the team's second-level cache over plain HTTP (SPEC section 5): signed documents under
// /ac/<sha256>, values under /cas/<sha256>, read-through and write-behind. Must not know about SQLite, R or cells.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ripple::dag {

// How to reach the team cache. Made by from_environment() (the front doors) or by hand (tests).
struct RemoteCacheSettings {
    std::string url;          // base URL, http:// or https://, without the trailing /ac or /cas
    std::string key;          // the team key: every document is signed with HMAC-SHA256 under it
    std::string bearer_token; // sent as "Authorization: Bearer ..." when not empty
    std::string ca_file;      // https: the CA certificates to trust instead of the system's (a private CA)
    std::chrono::milliseconds timeout{3000};        // what one lookup (its document and its values) may take at most
    std::chrono::milliseconds drain_timeout{30000}; // how long the destructor waits for uploads still queued

    // RIPPLE_REMOTE_CACHE (URL), RIPPLE_REMOTE_CACHE_KEY_FILE, RIPPLE_REMOTE_CACHE_TOKEN_FILE,
    // RIPPLE_REMOTE_CACHE_TIMEOUT (seconds), RIPPLE_REMOTE_CACHE_CA_FILE. nullopt when no URL is set, or, with one line to `warn` saying why,
    // when the remote cannot be used (no key, an unreadable file, a URL that is not http(s)).
    static std::optional<RemoteCacheSettings> from_environment(const std::function<void(const std::string&)>& warn);
};

// What this process's remote did (CacheStore adds them to its persistent counters).
struct RemoteCacheCounters {
    std::uint64_t documents_fetched = 0; // signed documents that verified
    std::uint64_t blobs_fetched = 0;     // values that verified
    std::uint64_t documents_uploaded = 0;
    std::uint64_t blobs_uploaded = 0;
    std::uint64_t rejected = 0; // bad signatures, wrong hashes, truncated bodies
};

// Reads on the caller's thread, each bounded by settings.timeout; writes on one thread of its own, in order. The
// first transport failure (refused, timed out, a 5xx, 401/403) turns the remote off for the rest of the process
// with one warning: the caller then works with its local cache alone. Nothing it returns is unverified.
class RemoteCache {
public:
    // Reads the bytes of a value for an upload, on the upload thread (the store opens its own connection there).
    using BlobReader = std::function<std::optional<std::string>(const std::string& hash)>;
    using WarningHandler = std::function<void(const std::string& line)>;

    RemoteCache(RemoteCacheSettings settings, WarningHandler warn, BlobReader read_blob);
    ~RemoteCache(); // waits for queued uploads, at most settings.drain_timeout
    RemoteCache(const RemoteCache&) = delete;
    RemoteCache& operator=(const RemoteCache&) = delete;

    const std::string& url() const;
    bool active() const; // false once the server failed

    // The payload of the signed document under /ac/<digest>, if present, signed with the team key and naming
    // `digest` itself (so it cannot be moved under another key); anything else is a miss (with a warning).
    std::optional<std::string> fetch_document(const std::string& digest);
    // The bytes under /cas/<hash> if their SHA-256 is `hash`; else a miss (with a warning if they were wrong).
    std::optional<std::string> fetch_blob(const std::string& hash);
    // Starts a lookup's time budget (settings.timeout): fetches until the next call share it.
    void begin_lookup();

    // Write-behind: queues the values named (read with the BlobReader, skipped when the server has them) and then
    // the document, signed. Returns at once.
    void upload(const std::string& digest, const std::string& payload, std::vector<std::string> blob_hashes);
    // Waits until the queue is empty or `limit` passed (tests, and the destructor).
    void drain(std::chrono::milliseconds limit);

    RemoteCacheCounters counters() const;

    // The document format, exposed for tests: "ripple-signed-1 <hmac hex>\n<payload>", where the HMAC-SHA256
    // under `key` covers "<digest>\n<payload>".
    static std::string sign(const std::string& key, const std::string& digest, const std::string& payload);
    static std::optional<std::string> verify(const std::string& key, const std::string& digest,
                                             const std::string& document);

private:
    struct State;
    std::unique_ptr<State> state_;
};

} // namespace ripple::dag
