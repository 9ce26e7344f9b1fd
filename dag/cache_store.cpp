// cache_store.cpp: the cache's SQLite database (WAL, busy timeout, schema version), value blobs published by
// atomic rename, verification on load, LRU gc and the disk budget. Must not know about R or cells: opaque bytes.
#include "dag/cache_store.hpp"
#include "dag/private_files.hpp"
#include "dag/sqlite_statement.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "dag/sha256.hpp"

namespace ripple::dag {

namespace fs = std::filesystem;

namespace {

constexpr int kStoreSchemaVersion = 3; // 2: replay_steps; 3: counters (the team cache's hits and uploads)
constexpr const char* kDatabaseFile = "cache.sqlite";
constexpr const char* kValuesFolder = "values";
constexpr const char* kTempFolder = "tmp";
constexpr auto kReopenDelay = std::chrono::seconds(10); // after a failed open, the next try waits this long
constexpr auto kBusyBackoff = std::chrono::seconds(10); // after a store found the lock held too long
constexpr int kTouchBusyTimeoutMs = 100;                // LRU bookkeeping never makes a hit wait long
constexpr std::int64_t kTouchIntervalMs = 60'000;       // a value's last use is refreshed at most this often
// Hits are recorded (hit_count, last_used_at) in batches: at flush_hits(), stats(), gc() and destruction, and at the
// latest when this many entries wait or the oldest waiting hit is kTouchIntervalMs old.
constexpr std::size_t kMaxUnrecordedHits = 256;
// A file hashed less than this long after its last modification may still change within the same mtime tick.
constexpr std::int64_t kRacyFileWindowNs = 2'000'000'000;
// The disk budget: the running total is read from the database at the first store, then again when another process
// wrote to the cache (at once within 5% of the limit, else at most once a second) or when it is 30 s old. Eviction
// (which reads it again under the write lock) goes down to 90%.
constexpr auto kBudgetRereadInterval = std::chrono::seconds(30);
constexpr auto kBudgetOthersInterval = std::chrono::seconds(1);
constexpr int kEvictBusyTimeoutMs = 1000; // eviction waits this long for another writer, then tries at a later store
constexpr std::uint64_t kDefaultSizeLimit = 5ULL << 30U;
// Eviction spares values no entry names yet and used more recently than this while it can: another process may have
// just put one for the entry it is about to store (put_value refreshes a last use older than kTouchIntervalMs).
constexpr std::int64_t kRecentValueMs = kTouchIntervalMs + 30'000;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS entries (
    key          TEXT PRIMARY KEY,
    outputs      TEXT NOT NULL,
    metadata     TEXT NOT NULL,
    key_parts    TEXT NOT NULL,
    run_seconds  REAL NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    hit_count    INTEGER NOT NULL DEFAULT 0,
    size         INTEGER NOT NULL,
    checksum     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_last_use ON entries (last_used_at);
CREATE TABLE IF NOT EXISTS entry_values (
    key    TEXT NOT NULL REFERENCES entries (key) ON DELETE CASCADE,
    symbol TEXT NOT NULL,
    hash   TEXT NOT NULL,
    PRIMARY KEY (key, symbol)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entry_values_by_hash ON entry_values (hash);
CREATE TABLE IF NOT EXISTS blobs (
    hash         TEXT PRIMARY KEY,
    size         INTEGER NOT NULL,
    inline_data  BLOB,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cell_keys (
    scope      TEXT NOT NULL,
    cell       TEXT NOT NULL,
    key        TEXT NOT NULL,
    key_parts  TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (scope, cell)
);
CREATE TABLE IF NOT EXISTS file_digests (
    path       TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    mtime_ns   INTEGER NOT NULL,
    inode      INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    hashed_at_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS replay_steps (
    state      TEXT NOT NULL,
    request    TEXT NOT NULL,
    key        TEXT NOT NULL,
    step       TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (state, request)
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
)sql";

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string short_hash(const std::string& hash) { return hash.substr(0, 12); }

// --- errors --------------------------------------------------------------------------------------

enum class Trouble { Other, Full, ReadOnly, Busy, Corrupt, Incompatible };

// A failed SQLite or file operation, with a reason a user can act on.
class StoreError : public std::runtime_error {
public:
    StoreError(Trouble trouble, const std::string& reason) : std::runtime_error(reason), trouble_(trouble) {}
    Trouble trouble() const { return trouble_; }

private:
    Trouble trouble_;
};

StoreError sqlite_error(sqlite3* database, int code) {
    const int primary = code & 0xff;
    std::string detail = database != nullptr ? sqlite3_errmsg(database) : sqlite3_errstr(code);
    switch (primary) {
    case SQLITE_FULL: return {Trouble::Full, "the disk is full"};
    case SQLITE_READONLY: return {Trouble::ReadOnly, "the cache directory is read-only"};
    case SQLITE_PERM:
    case SQLITE_AUTH: return {Trouble::ReadOnly, "permission denied"};
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return {Trouble::Busy, "another process held the database lock too long"};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return {Trouble::Corrupt, "the database is damaged (" + detail + ")"};
    case SQLITE_IOERR:
        if (code == SQLITE_IOERR_WRITE || code == SQLITE_IOERR_FSYNC || code == SQLITE_IOERR_TRUNCATE ||
            code == SQLITE_IOERR_SHMSIZE) {
            // SQLite's errno is gone by now; a failed write is nearly always one of these.
            return {Trouble::Full, "a write failed: the disk is full, a file size limit was reached, or an I/O error"};
        }
        return {Trouble::Other, "database I/O error (" + detail + ")"};
    case SQLITE_CANTOPEN: return {Trouble::ReadOnly, "the database cannot be opened (" + detail + ")"};
    default: return {Trouble::Other, "database error (" + detail + ")"};
    }
}

StoreError file_error(int error, const std::string& doing) {
    switch (error) {
    case ENOSPC:
    case EDQUOT: return {Trouble::Full, "the disk is full"};
    case EFBIG: return {Trouble::Full, "the file size limit was reached"};
    case EROFS: return {Trouble::ReadOnly, "the cache directory is read-only"};
    case EACCES:
    case EPERM: return {Trouble::ReadOnly, "permission denied " + doing};
    default: return {Trouble::Other, std::string(std::strerror(error)) + " " + doing};
    }
}

// --- SQLite handles (RAII) -----------------------------------------------------------------------

using sqlite::DatabaseHandle;

// Statements of the cache store raise StoreError, classified for the user (full disk, read-only, ...).
struct RaiseStoreError {
    [[noreturn]] void operator()(sqlite3* database, int code, sqlite::Phase) const {
        throw sqlite_error(database, code);
    }
};
using Statement = sqlite::Statement<RaiseStoreError>;

void execute(sqlite3* database, const char* sql) {
    const int code = sqlite3_exec(database, sql, nullptr, nullptr, nullptr);
    if (code != SQLITE_OK) throw sqlite_error(database, code);
}

std::int64_t query_integer(sqlite3* database, const char* sql) {
    Statement query(database, sql);
    return query.step() ? query.integer(0) : 0;
}

// A transaction that rolls back unless committed. Writers take the write lock up front (BEGIN IMMEDIATE), so a
// busy database makes them wait for busy_timeout instead of failing when they first write.
class Transaction {
public:
    enum class Kind { Read, Write };
    Transaction(sqlite3* database, Kind kind) : database_(database) {
        execute(database, kind == Kind::Write ? "BEGIN IMMEDIATE" : "BEGIN");
    }
    ~Transaction() {
        if (open_) sqlite3_exec(database_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit() {
        execute(database_, "COMMIT");
        open_ = false;
    }

private:
    sqlite3* database_;
    bool open_ = true;
};

// Sets a shorter busy timeout for the scope (bookkeeping writes that may be skipped).
class BusyTimeoutScope {
public:
    BusyTimeoutScope(sqlite3* database, int scoped_ms, int normal_ms) : database_(database), normal_ms_(normal_ms) {
        sqlite3_busy_timeout(database_, scoped_ms);
    }
    ~BusyTimeoutScope() { sqlite3_busy_timeout(database_, normal_ms_); }
    BusyTimeoutScope(const BusyTimeoutScope&) = delete;
    BusyTimeoutScope& operator=(const BusyTimeoutScope&) = delete;

private:
    sqlite3* database_;
    int normal_ms_;
};

// --- files (RAII) --------------------------------------------------------------------------------

class FileDescriptor {
public:
    explicit FileDescriptor(int fd = -1) : fd_(fd) {}
    ~FileDescriptor() { reset(); }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    int get() const { return fd_; }
    // Closes now and reports close()'s own error (a delayed write error on some file systems).
    int close() {
        int result = fd_ >= 0 ? ::close(fd_) : 0;
        fd_ = -1;
        return result;
    }

private:
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    int fd_;
};

// A temporary file that is removed unless it was published (renamed to its final place).
class TempFile {
public:
    TempFile() = default;
    explicit TempFile(fs::path path) : path_(std::move(path)) {}
    ~TempFile() {
        if (!path_.empty()) ::unlink(path_.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    TempFile(TempFile&& other) noexcept : path_(std::exchange(other.path_, {})) {}
    TempFile& operator=(TempFile&&) = delete;
    const fs::path& path() const { return path_; }
    void published() { path_.clear(); }

private:
    fs::path path_;
};

void write_all(int fd, std::string_view bytes) {
    const char* cursor = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
        ssize_t n = ::write(fd, cursor, std::min<std::size_t>(left, std::size_t{1} << 30U));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw file_error(errno, "writing a value file");
        cursor += n;
        left -= static_cast<std::size_t>(n);
    }
}

// Writes bytes to a new temporary file in `folder` (the cache's modes: private, or group-shared) and fsyncs it.
TempFile write_temp_file(const fs::path& folder, std::string_view bytes, const FileModes& modes) {
    create_private_directories(folder, modes);
    std::string pattern = (folder / "value-XXXXXX").string();
    int fd = ::mkstemp(pattern.data());
    if (fd < 0) throw file_error(errno, "creating a temporary file");
    FileDescriptor file(fd);
    TempFile temp{fs::path(pattern)};
    if (modes.shared) ::fchmod(file.get(), modes.file); // mkstemp made it 0600
    write_all(file.get(), bytes);
    if (::fsync(file.get()) != 0) throw file_error(errno, "flushing a value file");
    if (file.close() != 0) throw file_error(errno, "closing a value file");
    return temp;
}

struct FileRead {
    enum class Status { Ok, Missing, Failed } status = Status::Failed;
    std::string bytes;
    std::uint64_t size_on_disk = 0;
    int error = 0;
};

// Reads a whole file; reads at most `limit` + 1 bytes so an overlong file is noticed without reading it all.
FileRead read_file(const fs::path& path, std::uint64_t limit) {
    FileRead out;
    FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() < 0) {
        out.status = errno == ENOENT ? FileRead::Status::Missing : FileRead::Status::Failed;
        out.error = errno;
        return out;
    }
    struct stat info {};
    if (::fstat(file.get(), &info) != 0) {
        out.error = errno;
        return out;
    }
    out.size_on_disk = static_cast<std::uint64_t>(info.st_size);
    if (out.size_on_disk != limit) {
        out.status = FileRead::Status::Ok;
        return out; // the caller sees the size mismatch
    }
    out.bytes.resize(limit);
    std::size_t done = 0;
    while (done < limit) {
        ssize_t n = ::read(file.get(), out.bytes.data() + done, limit - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            out.error = errno;
            return out;
        }
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    out.bytes.resize(done);
    out.status = FileRead::Status::Ok;
    return out;
}

// Percent-encodes a path for an SQLite URI filename.
std::string uri_path(const fs::path& path) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : path.string()) {
        if (std::isalnum(c) != 0 || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4U]);
            out.push_back(kHex[c & 0x0fU]);
        }
    }
    return out;
}

std::string entry_checksum(const CacheEntry& entry) {
    Sha256 digest;
    digest.update_framed("ripple-cache-entry");
    digest.update_framed(entry.key);
    digest.update_framed(entry.outputs_json);
    digest.update_framed(entry.metadata_json);
    digest.update_framed(entry.key_parts_json);
    for (const auto& [symbol, hash] : entry.values) {
        digest.update_framed(symbol);
        digest.update_framed(hash);
    }
    return digest.hex_digest();
}

std::uint64_t entry_size(const CacheEntry& entry) {
    std::uint64_t size =
        entry.key.size() + entry.outputs_json.size() + entry.metadata_json.size() + entry.key_parts_json.size();
    for (const auto& [symbol, hash] : entry.values) size += symbol.size() + hash.size();
    return size;
}

std::string one_line(std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    std::replace(text.begin(), text.end(), '\r', ' ');
    return text;
}

} // namespace

// ------------------------------------------------------------------------------------------------

struct CacheStore::State {
    CacheStoreOptions options;
    fs::path directory;
    fs::path database_path;
    FileModes modes; // of every directory and file the store creates (private_files.hpp)
    DatabaseHandle database;
    sqlite::StatementCache statements; // after `database`: finalized before it closes
    bool writable = false;
    bool may_reopen = false;
    std::chrono::steady_clock::time_point writes_paused_until{};
    std::chrono::steady_clock::time_point reopen_at{};
    std::set<std::string> reported;
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    // Hits not yet written to their entries: key -> (count, time of the last one). A hit only reads the database.
    struct UnrecordedHits {
        std::int64_t count = 0;
        std::int64_t last_ms = 0;
    };
    std::map<std::string, UnrecordedHits> unrecorded_hits;
    std::int64_t oldest_unrecorded_ms = 0;
    std::chrono::steady_clock::time_point hit_writes_paused_until{};
    // The team cache (options.remote), if configured and the local cache is writable (what it serves is kept here).
    std::unique_ptr<RemoteCache> remote;
    std::uint64_t remote_hits = 0;          // this object's, for stats()
    std::uint64_t remote_hits_recorded = 0; // of those, how many the counters table has
    // The disk budget (options.max_bytes). `used` estimates the cache's disk use: entries + values (as gc counts
    // them) + the database file's own overhead (pages, indexes; not the WAL), as of the last read plus this object's
    // stores since. Invariants: (1) automatic eviction never removes an entry in protected_keys or a value in
    // protected_values; (2) after keep_budget() returns, used <= limit unless only protected data is left above it.
    struct Budget {
        bool known = false;
        std::uint64_t used = 0;
        std::uint64_t overhead = 0; // the database file beyond the entries and inline values it holds
        std::chrono::steady_clock::time_point read_at{};
        std::int64_t data_version = 0; // PRAGMA data_version at the last read: changes when another process commits
        std::uint64_t files = 0;       // the database file's size at the last read (or growth check)
        std::uint64_t retry_above = 0; // protection kept the cache above the limit: next eviction only past this
        std::uint64_t evictions = 0;   // entries evicted by this object
    } budget;
    std::unordered_set<std::string> protected_keys;   // entries this object stored or served: the live session's
    std::unordered_set<std::string> protected_values; // values those name, and values this object put
    std::unordered_set<std::string> unstored_values;  // put_value failed or skipped: their entries are skipped quietly

    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
        try {
            record_hits();
            finish_remote();
        } catch (...) {
            // bookkeeping only
        }
    }

    // Waits (bounded) for the uploads still queued, then counts them in the database.
    void finish_remote() {
        if (!remote) return;
        remote->drain(options.remote ? options.remote->drain_timeout : std::chrono::milliseconds(0));
        const std::uint64_t uploaded = remote->counters().documents_uploaded;
        remote.reset();
        add_to_counter("remote_uploads", uploaded);
    }
    bool remote_readable() { return remote && remote->active() && ready() && writable; }

    // Best effort, like the hit counts.
    void add_to_counter(const char* name, std::uint64_t amount) {
        if (amount == 0 || !database || !writable) return;
        try {
            BusyTimeoutScope brief(db(), kTouchBusyTimeoutMs, options.busy_timeout_ms);
            Statement(db(), "INSERT INTO counters (name, value) VALUES (?, ?)"
                            " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value")
                .bind(1, std::string(name))
                .bind(2, static_cast<std::int64_t>(amount))
                .run();
        } catch (const StoreError&) {
            // bookkeeping only
        }
    }
    std::uint64_t counter(const char* name) {
        Statement query(db(), "SELECT value FROM counters WHERE name = ?");
        query.bind(1, std::string(name));
        return query.step() ? static_cast<std::uint64_t>(query.integer(0)) : 0;
    }
    std::optional<std::string> local_replay_step(const std::string& state, const std::string& request) {
        Statement query = prepared("SELECT step FROM replay_steps WHERE state = ? AND request = ?");
        query.bind(1, state).bind(2, request);
        if (!query.step()) return std::nullopt;
        return query.text(0);
    }

    sqlite3* db() const { return database.get(); }
    // A statement of the hot paths (lookups, loads, steps), prepared once per connection.
    Statement prepared(const std::string& sql) { return statements.use<RaiseStoreError>(db(), sql); }

    void note_hit(const std::string& key) {
        const std::int64_t now = now_ms();
        if (unrecorded_hits.empty()) oldest_unrecorded_ms = now;
        UnrecordedHits& waiting = unrecorded_hits[key];
        ++waiting.count;
        waiting.last_ms = now;
        if (unrecorded_hits.size() >= kMaxUnrecordedHits || oldest_unrecorded_ms <= now - kTouchIntervalMs) {
            record_hits();
        }
    }

    // Writes the waiting hits in one transaction. Best effort, like any LRU bookkeeping: a busy database keeps
    // them waiting (and is not asked again for a while), a read-only one drops them.
    void record_hits() {
        if (remote_hits > remote_hits_recorded) {
            add_to_counter("remote_hits", remote_hits - remote_hits_recorded);
            remote_hits_recorded = remote_hits;
        }
        if (unrecorded_hits.empty() || !database) return;
        if (!writable) {
            unrecorded_hits.clear();
            return;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now < hit_writes_paused_until || now < writes_paused_until) return;
        try {
            BusyTimeoutScope brief(db(), kTouchBusyTimeoutMs, options.busy_timeout_ms);
            Transaction transaction(db(), Transaction::Kind::Write);
            for (const auto& [key, waiting] : unrecorded_hits) {
                Statement(db(), "UPDATE entries SET last_used_at = MAX(last_used_at, ?), hit_count = hit_count + ?"
                                " WHERE key = ?")
                    .bind(1, waiting.last_ms)
                    .bind(2, waiting.count)
                    .bind(3, key)
                    .run();
            }
            transaction.commit();
            unrecorded_hits.clear();
        } catch (const StoreError& error) {
            if (error.trouble() == Trouble::Busy) {
                hit_writes_paused_until = std::chrono::steady_clock::now() + kBusyBackoff;
            } else {
                unrecorded_hits.clear(); // a full disk or an I/O error: these hits go unrecorded
            }
        }
    }

    void warn(const std::string& sentence) { warn_line("ripple cache: " + sentence); }
    void warn_line(const std::string& text) {
        std::string line = one_line(text);
        if (!reported.insert(line).second) return;
        if (options.on_warning) {
            options.on_warning(line);
        } else {
            std::cerr << line << '\n';
        }
    }

    // --- paths ---
    fs::path value_path(const std::string& hash) const {
        return directory / kValuesFolder / hash.substr(0, 2) / hash.substr(2);
    }
    fs::path temp_folder() const { return directory / kTempFolder; }

    // --- opening ---
    DatabaseHandle open_connection(const std::string& location, int flags) const {
        sqlite3* raw = nullptr;
        const int code = sqlite3_open_v2(location.c_str(), &raw, flags, nullptr);
        DatabaseHandle handle(raw);
        if (code != SQLITE_OK) throw sqlite_error(raw, code);
        sqlite3_busy_timeout(raw, options.busy_timeout_ms);
        sqlite3_extended_result_codes(raw, 1);
        return handle;
    }

    static void create_schema(sqlite3* db) {
        execute(db, kSchema);
        execute(db, ("PRAGMA user_version = " + std::to_string(kStoreSchemaVersion)).c_str());
    }

    // Creates the tables on first use; refuses a database written by a newer ripple.
    static void ensure_schema(sqlite3* db) {
        std::int64_t version = query_integer(db, "PRAGMA user_version");
        if (version == kStoreSchemaVersion) return;
        if (version > kStoreSchemaVersion) {
            throw StoreError(Trouble::Incompatible, "it was written by a newer ripple (cache schema " +
                                                        std::to_string(version) + ", this one reads " +
                                                        std::to_string(kStoreSchemaVersion) + ")");
        }
        Transaction transaction(db, Transaction::Kind::Write);
        version = query_integer(db, "PRAGMA user_version"); // another process may have been first
        if (version == 2) {
            // 2 -> 3 only adds the counters table: the entries stay.
            execute(db, "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)");
            execute(db, ("PRAGMA user_version = " + std::to_string(kStoreSchemaVersion)).c_str());
        } else if (version != kStoreSchemaVersion) {
            // An older layout (none is in use any more): a cache may always be thrown away.
            for (const char* table :
                 {"entry_values", "entries", "blobs", "cell_keys", "file_digests", "replay_steps", "counters"}) {
                execute(db, (std::string("DROP TABLE IF EXISTS ") + table).c_str());
            }
            create_schema(db);
        }
        transaction.commit();
    }

    DatabaseHandle open_read_write() {
        make_private_database(database_path, modes);
        DatabaseHandle handle =
            open_connection(database_path.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
        sqlite3* db = handle.get();
        execute(db, "PRAGMA foreign_keys = ON");
        if (sqlite3_db_readonly(db, "main") == 1)
            throw StoreError(Trouble::ReadOnly, "the cache directory is read-only");
        // Lets gc give pages back to the file system; possible only before the first table exists (setting it
        // on an existing database would take the write lock for nothing).
        if (query_integer(db, "SELECT COUNT(*) FROM sqlite_master") == 0)
            execute(db, "PRAGMA auto_vacuum = INCREMENTAL");
        execute(db, "PRAGMA journal_mode = WAL");
        execute(db, "PRAGMA synchronous = NORMAL");
        ensure_schema(db);
        return handle;
    }

    // A read-only view: through the normal locks if the -shm file can be used, else as an immutable file.
    DatabaseHandle open_read_only() {
        if (!fs::exists(database_path)) throw StoreError(Trouble::ReadOnly, "there is no cache database to read");
        const int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
        std::string base = "file:" + uri_path(fs::absolute(database_path));
        for (const char* mode : {"?mode=ro", "?immutable=1"}) {
            try {
                DatabaseHandle handle = open_connection(base + mode, flags);
                std::int64_t version = query_integer(handle.get(), "PRAGMA user_version");
                if (version != kStoreSchemaVersion) {
                    throw StoreError(Trouble::Other, "it has another cache schema (" + std::to_string(version) + ")");
                }
                query_integer(handle.get(), "SELECT COUNT(*) FROM blobs WHERE 0");
                return handle;
            } catch (const StoreError& error) {
                if (error.trouble() != Trouble::ReadOnly && error.trouble() != Trouble::Busy &&
                    error.trouble() != Trouble::Other) {
                    throw;
                }
            }
        }
        throw StoreError(Trouble::ReadOnly, "the cache database cannot be read");
    }

    // Opens read-write. Switching a new database to WAL needs an exclusive lock, and SQLite answers "busy"
    // at once (without its busy handler) when that could deadlock with another opener: retried here until
    // the busy timeout.
    DatabaseHandle open_read_write_patiently() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.busy_timeout_ms);
        std::minstd_rand jitter(static_cast<unsigned>(::getpid()));
        for (;;) {
            try {
                return open_read_write();
            } catch (const StoreError& error) {
                if (error.trouble() != Trouble::Busy || std::chrono::steady_clock::now() >= deadline) throw;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10 + jitter() % 40));
        }
    }

    void open() {
        modes = modes_for(directory);
        create_private_directories(directory, modes);
        try {
            database = open_read_write_patiently();
            writable = true;
            return;
        } catch (const StoreError& error) {
            database.reset();
            if (error.trouble() == Trouble::Corrupt) {
                set_aside_damaged_database(error.what());
                return;
            }
            if (error.trouble() != Trouble::ReadOnly) {
                warn("cannot use the cache in " + directory.string() + ": " + error.what() + "; cells run without it.");
                // A lock held too long or an I/O error may pass: a long-lived kernel tries again later.
                if (error.trouble() != Trouble::Incompatible) {
                    reopen_at = std::chrono::steady_clock::now() + kReopenDelay;
                    may_reopen = true;
                }
                return;
            }
        }
        try {
            database = open_read_only();
            writable = false; // said at the first store that has to be skipped
        } catch (const StoreError& error) {
            database.reset();
            warn("cannot use the cache in " + directory.string() + ": " + error.what() + "; cells run without it.");
        }
    }

    void set_aside_damaged_database(const std::string& reason) {
        fs::path aside = database_path;
        aside += ".damaged-" + std::to_string(now_ms());
        std::error_code error;
        fs::rename(database_path, aside, error);
        for (const char* suffix : {"-wal", "-shm"}) {
            fs::path side = database_path;
            side += suffix;
            fs::remove(side, error);
        }
        try {
            database = open_read_write_patiently();
            writable = true;
            warn("the cache database in " + directory.string() + " was damaged (" + reason + "); moved it to " +
                 aside.filename().string() + " and started an empty cache.");
        } catch (const StoreError& again) {
            database.reset();
            warn("cannot use the cache in " + directory.string() + ": " + again.what() + "; cells run without it.");
        }
    }

    // --- failure reports ---
    void read_only() {
        warn("the cache directory " + directory.string() +
             " is read-only; cached results are used but new ones are not stored.");
    }
    void store_failed(const StoreError& error) {
        if (error.trouble() == Trouble::ReadOnly) {
            writable = false;
            read_only();
            return;
        }
        // Another process holds the write lock for long (a gc, a big commit): the next stores are skipped
        // at once for a while instead of each waiting busy_timeout.
        if (error.trouble() == Trouble::Busy) writes_paused_until = std::chrono::steady_clock::now() + kBusyBackoff;
        warn("could not store results in " + directory.string() + " (" + error.what() +
             "); cells run normally but are not cached.");
    }
    void read_failed(const StoreError& error) {
        warn("could not read the cache in " + directory.string() + " (" + error.what() + "); treating it as a miss.");
    }
    // True when the database is open, reopening it if an earlier failure may have passed.
    bool ready() {
        if (!database && may_reopen && std::chrono::steady_clock::now() >= reopen_at) {
            may_reopen = false;
            open();
        }
        return database != nullptr;
    }
    bool can_write() {
        if (!ready()) return false;
        if (std::chrono::steady_clock::now() < writes_paused_until) return false;
        if (!writable) {
            read_only();
            return false;
        }
        return true;
    }

    // --- values ---
    struct BlobRow {
        std::uint64_t size = 0;
        bool in_file = false;
        std::int64_t last_used_at = 0;
    };
    std::optional<BlobRow> blob_row(const std::string& hash) {
        Statement query = prepared("SELECT size, inline_data IS NULL, last_used_at FROM blobs WHERE hash = ?");
        query.bind(1, hash);
        if (!query.step()) return std::nullopt;
        return BlobRow{static_cast<std::uint64_t>(query.integer(0)), query.integer(1) != 0, query.integer(2)};
    }

    // Checks that a value's file exists with the recorded size; nullopt when fine, else what is wrong.
    std::optional<std::string> file_problem(const std::string& hash, std::uint64_t size) const {
        struct stat info {};
        if (::stat(value_path(hash).c_str(), &info) != 0) {
            return errno == ENOENT
                       ? std::optional<std::string>("its file is missing")
                       : std::optional<std::string>(std::string("its file cannot be read: ") + std::strerror(errno));
        }
        if (static_cast<std::uint64_t>(info.st_size) != size) {
            return "its file has " + std::to_string(info.st_size) + " bytes instead of " + std::to_string(size);
        }
        return std::nullopt;
    }

    // A value failed verification: drop it and every entry that uses it (best effort; a read-only cache just
    // ignores it, since every load verifies again), and say so once. Checked again under the write lock: if
    // another process's gc removed the value meanwhile, it was a plain miss, not damage.
    void value_damaged(const std::string& hash, const std::string& what) {
        if (database && writable) {
            try {
                Transaction transaction(db(), Transaction::Kind::Write);
                if (!blob_row(hash)) return;
                Statement(db(), "DELETE FROM entries WHERE key IN (SELECT key FROM entry_values WHERE hash = ?)")
                    .bind(1, hash)
                    .run();
                Statement(db(), "DELETE FROM blobs WHERE hash = ?").bind(1, hash).run();
                ::unlink(value_path(hash).c_str());
                transaction.commit();
            } catch (const StoreError&) {
                // reported below; the value stays ignored
            }
        }
        warn("value " + short_hash(hash) + " in " + directory.string() + " is damaged (" + what +
             "); ignored and removed, cells that need it are recomputed.");
    }

    void remove_entry(const std::string& key) {
        if (!database || !writable) return;
        try {
            Statement(db(), "DELETE FROM entries WHERE key = ?").bind(1, key).run();
        } catch (const StoreError&) {
            // A damaged entry that stays is verified and ignored again next time.
        }
    }

    std::optional<std::string> load_value(const std::string& hash) {
        std::optional<BlobRow> row;
        std::string bytes;
        {
            Statement query = prepared("SELECT size, inline_data IS NULL, inline_data FROM blobs WHERE hash = ?");
            query.bind(1, hash);
            if (!query.step()) return std::nullopt;
            row = BlobRow{static_cast<std::uint64_t>(query.integer(0)), query.integer(1) != 0, 0};
            if (!row->in_file) bytes = query.blob(2);
        }
        if (row->in_file) {
            FileRead read = read_file(value_path(hash), row->size);
            if (read.status == FileRead::Status::Missing) {
                value_damaged(hash, "its file is missing");
                return std::nullopt;
            }
            if (read.status == FileRead::Status::Failed) {
                throw file_error(read.error, "reading value file " + value_path(hash).string());
            }
            if (read.size_on_disk != row->size || read.bytes.size() != row->size) {
                value_damaged(hash, "its file has " + std::to_string(read.size_on_disk) + " bytes instead of " +
                                        std::to_string(row->size));
                return std::nullopt;
            }
            bytes = std::move(read.bytes);
        } else if (bytes.size() != row->size) {
            value_damaged(hash,
                          "it has " + std::to_string(bytes.size()) + " bytes instead of " + std::to_string(row->size));
            return std::nullopt;
        }
        if (sha256_hex(bytes) != hash) {
            value_damaged(hash, "its content does not match its hash");
            return std::nullopt;
        }
        return bytes;
    }

    // load_value for a value file, mapped instead of read into memory (nullopt: not a file value, or damaged).
    std::optional<SharedBytes> map_value(const std::string& hash) {
        std::optional<BlobRow> row = blob_row(hash);
        if (!row || !row->in_file || row->size == 0) return std::nullopt;
        const fs::path path = value_path(hash);
        FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (file.get() < 0) {
            if (errno == ENOENT) value_damaged(hash, "its file is missing");
            else throw file_error(errno, "reading value file " + path.string());
            return std::nullopt;
        }
        struct stat info {};
        if (::fstat(file.get(), &info) != 0) throw file_error(errno, "reading value file " + path.string());
        if (static_cast<std::uint64_t>(info.st_size) != row->size) {
            value_damaged(hash, "its file has " + std::to_string(info.st_size) + " bytes instead of " +
                                    std::to_string(row->size));
            return std::nullopt;
        }
        void* address = ::mmap(nullptr, row->size, PROT_READ, MAP_PRIVATE, file.get(), 0);
        if (address == MAP_FAILED) throw file_error(errno, "mapping value file " + path.string());
        const std::size_t size = row->size;
        std::shared_ptr<const void> mapping(address, [size](const void* at) { ::munmap(const_cast<void*>(at), size); });
        ::madvise(address, size, MADV_SEQUENTIAL);
        std::string_view bytes(static_cast<const char*>(address), size);
        if (sha256_hex(bytes) != hash) {
            value_damaged(hash, "its content does not match its hash");
            return std::nullopt;
        }
        ::madvise(address, size, MADV_DONTNEED); // read again as they are unserialized, not held twice meanwhile
        return SharedBytes{std::move(mapping), bytes, true};
    }

    // --- the disk budget ---
    // A value that could never fit: said once, and not stored.
    bool over_size_limit(std::uint64_t size) {
        if (options.max_bytes == 0 || size <= options.max_bytes) return false;
        warn("values larger than the cache's size limit (" + std::to_string(options.max_bytes) +
             " bytes; RIPPLE_CACHE_MAX_SIZE sets it) are not stored; the cells that define them run normally but are "
             "not cached.");
        return true;
    }
    void value_added(const std::string& hash, std::uint64_t size) {
        unstored_values.erase(hash);
        budget.used += size;
    }
    void protect_entry(const CacheEntry& entry) {
        protected_keys.insert(entry.key);
        for (const auto& [symbol, hash] : entry.values) protected_values.insert(hash);
    }

    // Reads the budget's total from the database (inside the caller's transaction, if any).
    void read_budget() {
        const auto entry_bytes =
            static_cast<std::uint64_t>(query_integer(db(), "SELECT COALESCE(SUM(size), 0) FROM entries"));
        std::uint64_t value_bytes = 0;
        std::uint64_t inline_bytes = 0;
        {
            Statement query(db(), "SELECT COALESCE(SUM(size), 0), COALESCE(SUM(CASE WHEN inline_data IS NULL THEN 0"
                                  " ELSE size END), 0) FROM blobs");
            if (query.step()) {
                value_bytes = static_cast<std::uint64_t>(query.integer(0));
                inline_bytes = static_cast<std::uint64_t>(query.integer(1));
            }
        }
        // Free pages inside the database file are reused by the next inserts: not counted. Nor is the WAL: SQLite
        // removes it when the last connection closes, and eviction (which writes to it) could not make it smaller.
        const auto free_bytes = static_cast<std::uint64_t>(query_integer(db(), "PRAGMA freelist_count")) *
                                static_cast<std::uint64_t>(query_integer(db(), "PRAGMA page_size"));
        const std::uint64_t files = database_files_bytes();
        budget.files = files;
        const std::uint64_t held = entry_bytes + inline_bytes + free_bytes;
        budget.overhead = files > held ? files - held : 0;
        budget.used = entry_bytes + value_bytes + budget.overhead;
        budget.known = true;
        budget.read_at = std::chrono::steady_clock::now();
        budget.data_version = query_integer(db(), "PRAGMA data_version");
    }

    std::uint64_t database_files_bytes() const {
        std::error_code error;
        const auto size = fs::file_size(database_path, error);
        return error ? 0 : static_cast<std::uint64_t>(size);
    }

    // Keeps the limit before `incoming` more bytes are stored (0: after an entry was stored). Cheap unless the
    // cache is near the limit: a comparison of the running total. Best effort: a busy or failing database leaves
    // the eviction to a later store.
    void keep_budget(std::uint64_t incoming) {
        const std::uint64_t limit = options.max_bytes;
        if (limit == 0 || !database || !writable) return;
        try {
            // Our own stores keep `used` current (near the limit, the database file's growth is added too: a stat
            // call); another process's commits (PRAGMA data_version, microseconds to ask) make it stale. A
            // re-read sums the tables: about 27 ms for 20,000 entries.
            const bool near = budget.used + incoming > limit - limit / 20;
            const auto age = std::chrono::steady_clock::now() - budget.read_at;
            if (!budget.known || age > kBudgetRereadInterval ||
                ((near || age > kBudgetOthersInterval) &&
                 budget.data_version != query_integer(db(), "PRAGMA data_version"))) {
                read_budget();
            } else if (near) {
                const std::uint64_t files = database_files_bytes();
                if (files > budget.files) budget.used += files - budget.files; // counts our rows twice: early, not late
                budget.files = files;
            }
            if (budget.used + incoming <= limit || budget.used + incoming <= budget.retry_above) return;
            const std::uint64_t goal = limit / 10 * 9;
            evict(goal > incoming ? goal - incoming : 0);
            if (budget.used + incoming > limit) {
                // Only what this session needs is left above the limit: try again when it has grown by 5%.
                budget.retry_above = budget.used + incoming + limit / 20;
            } else {
                budget.retry_above = 0;
            }
        } catch (const StoreError& error) {
            if (error.trouble() == Trouble::Busy) return; // another writer: a later store tries again
            if (error.trouble() == Trouble::Full || error.trouble() == Trouble::ReadOnly) {
                store_failed(error); // the same one line as the store that follows would give
                return;
            }
            warn("could not keep the cache in " + directory.string() + " under its size limit (" + error.what() +
                 "); it is tidied at a later store.");
        }
    }

    // Removes least recently used entries that this object does not protect, and the values only they use, until
    // `used` <= goal; then unprotected values no entry uses, those not used within kRecentValueMs first. One write
    // transaction; files unlinked under its lock (as in gc). A value removed here while another process is between
    // its put_value and its store makes that store skip the entry: a cell not cached, never a wrong value.
    void evict(std::uint64_t goal) {
        record_hits(); // the LRU order as of now
        BusyTimeoutScope patience(db(), kEvictBusyTimeoutMs, options.busy_timeout_ms);
        Transaction transaction(db(), Transaction::Kind::Write);
        read_budget(); // under the lock: what other processes added counts too
        std::vector<std::pair<std::string, std::uint64_t>> candidates;
        {
            Statement query(db(), "SELECT key, size FROM entries ORDER BY last_used_at, key");
            while (query.step()) {
                std::string key = query.text(0);
                if (!protected_keys.count(key))
                    candidates.emplace_back(std::move(key), static_cast<std::uint64_t>(query.integer(1)));
            }
        }
        std::vector<std::string> files;
        bool evicted = false;
        const std::int64_t recent_ms = now_ms() - kRecentValueMs;
        auto drop_value_if_unused = [&](const std::string& hash, bool even_recent) {
            if (protected_values.count(hash)) return;
            Statement still_used(db(), "SELECT 1 FROM entry_values WHERE hash = ? LIMIT 1");
            still_used.bind(1, hash);
            if (still_used.step()) return;
            auto row = blob_row(hash);
            if (!row || (!even_recent && row->last_used_at >= recent_ms)) return;
            Statement(db(), "DELETE FROM blobs WHERE hash = ?").bind(1, hash).run();
            budget.used -= std::min(budget.used, row->size);
            if (row->in_file) files.push_back(hash);
        };
        for (const auto& [key, size] : candidates) {
            if (budget.used <= goal) break;
            std::vector<std::string> hashes;
            {
                Statement used(db(), "SELECT DISTINCT hash FROM entry_values WHERE key = ?");
                used.bind(1, key);
                while (used.step()) hashes.push_back(used.text(0));
            }
            Statement(db(), "DELETE FROM entries WHERE key = ?").bind(1, key).run();
            budget.used -= std::min(budget.used, size);
            ++budget.evictions;
            evicted = true;
            for (const auto& hash : hashes) drop_value_if_unused(hash, true);
        }
        if (budget.used > goal) {
            std::vector<std::string> orphans;
            {
                Statement query(db(),
                                "SELECT hash FROM blobs WHERE NOT EXISTS"
                                " (SELECT 1 FROM entry_values v WHERE v.hash = blobs.hash) ORDER BY last_used_at");
                while (query.step()) orphans.push_back(query.text(0));
            }
            // Old orphans first, then, if the limit needs it, recent ones too (at worst another process's entry
            // then finds its value gone and is not stored: a cell not cached, never a wrong value).
            for (bool even_recent : {false, true}) {
                for (const auto& hash : orphans) {
                    if (budget.used <= goal) break;
                    drop_value_if_unused(hash, even_recent);
                }
            }
        }
        if (evicted) {
            execute(db(), "DELETE FROM replay_steps WHERE key != '' AND NOT EXISTS"
                          " (SELECT 1 FROM entries e WHERE e.key = replay_steps.key)");
        }
        for (const auto& hash : files) ::unlink(value_path(hash).c_str());
        transaction.commit();
        try {
            execute(db(), "PRAGMA incremental_vacuum");
        } catch (const StoreError&) {
            // Space inside the database file is reused either way.
        }
    }

    std::uint64_t total_bytes() {
        return static_cast<std::uint64_t>(query_integer(db(), "SELECT COALESCE(SUM(size), 0) FROM entries")) +
               static_cast<std::uint64_t>(query_integer(db(), "SELECT COALESCE(SUM(size), 0) FROM blobs"));
    }
};

// ------------------------------------------------------------------------------------------------

fs::path CacheStore::resolve_directory(const fs::path& explicit_dir) {
    if (!explicit_dir.empty()) return explicit_dir;
    auto env = [](const char* name) -> std::optional<std::string> {
        const char* value = std::getenv(name);
        if (value == nullptr || *value == '\0') return std::nullopt;
        return std::string(value);
    };
    if (auto dir = env("RIPPLE_CACHE_DIR")) return *dir;
    if (auto xdg = env("XDG_CACHE_HOME")) return fs::path(*xdg) / "ripple";
    if (auto home = env("HOME")) return fs::path(*home) / ".cache" / "ripple";
    return fs::temp_directory_path() / ("ripple-cache-" + std::to_string(::getuid()));
}

std::uint64_t CacheStore::default_size_limit(const fs::path& directory) {
    std::error_code error;
    fs::path existing = fs::absolute(directory, error);
    while (!existing.empty() && !fs::exists(existing, error) && existing.has_relative_path())
        existing = existing.parent_path();
    struct statvfs info {};
    if (existing.empty() || ::statvfs(existing.c_str(), &info) != 0) return kDefaultSizeLimit;
    const std::uint64_t size = static_cast<std::uint64_t>(info.f_blocks) * info.f_frsize;
    return std::min(kDefaultSizeLimit, std::max<std::uint64_t>(size / 10, 1));
}

std::uint64_t CacheStore::size_limit_from_environment(const fs::path& directory,
                                                      const CacheWarningHandler& on_warning) {
    const char* value = std::getenv("RIPPLE_CACHE_MAX_SIZE");
    if (value == nullptr || *value == '\0') return default_size_limit(directory);
    if (auto limit = parse_byte_size(value)) return *limit;
    const std::uint64_t fallback = default_size_limit(directory);
    const std::string line = "ripple cache: RIPPLE_CACHE_MAX_SIZE=\"" + one_line(value) +
                             "\" is not a size (write e.g. 500M, 5G or 1.5GB); using the default limit of " +
                             std::to_string(fallback >> 20U) + " MB.";
    if (on_warning) on_warning(line);
    else std::cerr << line << '\n';
    return fallback;
}

CacheStore::CacheStore(CacheStoreOptions options) : state_(std::make_unique<State>()) {
    state_->options = std::move(options);
    state_->directory = resolve_directory(state_->options.directory);
    state_->database_path = state_->directory / kDatabaseFile;
    state_->open();
    if (state_->options.remote && state_->database && state_->writable) {
        // The upload thread reads values through a connection of its own, opened there on first use.
        auto reader = std::make_shared<std::unique_ptr<CacheStore>>();
        CacheStoreOptions local;
        local.directory = state_->directory;
        local.on_warning = [](const std::string&) {}; // the owner's store reports the same problems
        auto read_blob = [reader, local](const std::string& hash) -> std::optional<std::string> {
            if (!*reader) *reader = std::make_unique<CacheStore>(local);
            return (*reader)->load_value(hash);
        };
        State* s = state_.get();
        state_->remote = std::make_unique<RemoteCache>(
            *state_->options.remote, [s](const std::string& line) { s->warn_line(line); }, std::move(read_blob));
    } else if (state_->options.remote) {
        state_->warn("the team cache " + state_->options.remote->url +
                     " is not used: the local cache it fills is not writable here.");
    }
}

CacheStore::~CacheStore() = default;
CacheStore::CacheStore(CacheStore&&) noexcept = default;
CacheStore& CacheStore::operator=(CacheStore&&) noexcept = default;

const fs::path& CacheStore::directory() const { return state_->directory; }
bool CacheStore::usable() const { return state_->database != nullptr; }
bool CacheStore::writable() const { return state_->database != nullptr && state_->writable; }

bool CacheStore::put_value(const std::string& hash, std::string_view bytes) {
    State& s = *state_;
    if (!is_sha256_hex(hash)) {
        s.warn("refused to store a value under \"" + short_hash(hash) + "\", which is not a SHA-256 hex digest.");
        return false;
    }
    // Until it is stored, the entry that names it is skipped without a second warning (store_here).
    s.unstored_values.insert(hash);
    if (!s.can_write()) return false;
    if (s.options.verify_values_on_put && sha256_hex(bytes) != hash) {
        s.warn("refused to store value " + short_hash(hash) + ": its bytes do not match its hash.");
        return false;
    }
    if (s.over_size_limit(bytes.size())) return false;
    // From now on the live session needs it: automatic eviction (keep_budget) leaves it alone.
    s.protected_values.insert(hash);
    try {
        const std::int64_t now = now_ms();
        if (auto row = s.blob_row(hash);
            row && row->size == bytes.size() && (!row->in_file || !s.file_problem(hash, row->size))) {
            // Present: mark it used, so that gc (which spares values used within the grace period) leaves it
            // for the entry about to name it. If gc removed it just now, store it again below.
            s.unstored_values.erase(hash);
            const std::int64_t touch_interval = std::min(kTouchIntervalMs, s.options.orphan_grace_seconds * 500);
            if (row->last_used_at >= now - touch_interval) return true;
            Statement(s.db(), "UPDATE blobs SET last_used_at = ? WHERE hash = ?").bind(1, now).bind(2, hash).run();
            if (sqlite3_changes(s.db()) > 0) return true;
            s.unstored_values.insert(hash);
        }
        s.keep_budget(bytes.size());
        const char* insert =
            "INSERT OR REPLACE INTO blobs (hash, size, inline_data, created_at, last_used_at) VALUES (?, ?, ?, ?, ?)";
        if (bytes.size() <= s.options.inline_value_limit) {
            Transaction transaction(s.db(), Transaction::Kind::Write);
            Statement(s.db(), insert)
                .bind(1, hash)
                .bind(2, static_cast<std::int64_t>(bytes.size()))
                .bind_blob(3, bytes)
                .bind(4, now)
                .bind(5, now)
                .run();
            transaction.commit();
            s.value_added(hash, bytes.size());
            return true;
        }
        // Written and flushed outside the lock; published (renamed) and recorded under it, so that gc, which
        // unlinks under the same lock, can never remove a file whose row is being added.
        TempFile temp = write_temp_file(s.temp_folder(), bytes, s.modes);
        Transaction transaction(s.db(), Transaction::Kind::Write);
        fs::path target = s.value_path(hash);
        create_private_directories(target.parent_path(), s.modes);
        if (::rename(temp.path().c_str(), target.c_str()) != 0) throw file_error(errno, "publishing a value file");
        temp.published();
        Statement(s.db(), insert)
            .bind(1, hash)
            .bind(2, static_cast<std::int64_t>(bytes.size()))
            .bind_null(3)
            .bind(4, now)
            .bind(5, now)
            .run();
        transaction.commit();
        s.value_added(hash, bytes.size());
        return true;
    } catch (const StoreError& error) {
        s.store_failed(error);
        return false;
    }
}

std::optional<fs::path> CacheStore::new_value_file() {
    State& s = *state_;
    if (!s.can_write()) return std::nullopt;
    try {
        create_private_directories(s.temp_folder(), s.modes);
        static std::atomic<std::uint64_t> counter{0};
        return s.temp_folder() / ("background-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + "-" +
                                  std::to_string(now_ms()));
    } catch (const StoreError& error) {
        s.store_failed(error);
        return std::nullopt;
    }
}

bool CacheStore::adopt_value_file(const std::string& hash, const fs::path& file, std::uint64_t size) {
    State& s = *state_;
    TempFile temp(file); // removed unless published
    if (!is_sha256_hex(hash) || !s.can_write() || s.over_size_limit(size)) return false;
    s.protected_values.insert(hash); // as in put_value: the live session's
    try {
        if (auto row = s.blob_row(hash); row && row->size == size && (!row->in_file || !s.file_problem(hash, size))) {
            Statement(s.db(), "UPDATE blobs SET last_used_at = ? WHERE hash = ?").bind(1, now_ms()).bind(2, hash).run();
            return true; // already here: the new copy goes
        }
        s.keep_budget(size);
        Transaction transaction(s.db(), Transaction::Kind::Write);
        fs::path target = s.value_path(hash);
        create_private_directories(target.parent_path(), s.modes);
        if (s.modes.shared) ::chmod(file.c_str(), s.modes.file); // the writer made it 0600
        if (::rename(file.c_str(), target.c_str()) != 0) throw file_error(errno, "publishing a value file");
        temp.published();
        const std::int64_t now = now_ms();
        Statement(
            s.db(),
            "INSERT OR REPLACE INTO blobs (hash, size, inline_data, created_at, last_used_at) VALUES (?, ?, ?, ?, ?)")
            .bind(1, hash)
            .bind(2, static_cast<std::int64_t>(size))
            .bind_null(3)
            .bind(4, now)
            .bind(5, now)
            .run();
        transaction.commit();
        s.value_added(hash, size);
        return true;
    } catch (const StoreError& error) {
        s.store_failed(error);
        return false;
    }
}

bool CacheStore::has_value(const std::string& hash) {
    State& s = *state_;
    if (!s.ready()) return false;
    try {
        auto row = s.blob_row(hash);
        if (!row || (row->in_file && s.file_problem(hash, row->size))) return false;
        s.protected_values.insert(hash); // the caller is about to name it in an entry instead of putting it
        return true;
    } catch (const StoreError& error) {
        s.read_failed(error);
        return false;
    }
}

std::optional<std::string> CacheStore::load_value(const std::string& hash) {
    State& s = *state_;
    if (!is_sha256_hex(hash) || !s.ready()) return std::nullopt;
    try {
        return s.load_value(hash);
    } catch (const StoreError& error) {
        s.read_failed(error);
        return std::nullopt;
    }
}

std::optional<SharedBytes> CacheStore::map_value(const std::string& hash) {
    State& s = *state_;
    if (!is_sha256_hex(hash) || !s.ready()) return std::nullopt;
    try {
        if (std::optional<SharedBytes> mapped = s.map_value(hash)) return mapped;
        if (std::optional<std::string> bytes = s.load_value(hash)) return SharedBytes::of(std::move(*bytes));
        return std::nullopt;
    } catch (const StoreError& error) {
        s.read_failed(error);
        return std::nullopt;
    }
}

bool CacheStore::store(const CacheEntry& entry) {
    if (!store_here(entry)) return false;
    State& s = *state_;
    if (s.remote && s.remote->active()) {
        nlohmann::json values = nlohmann::json::object();
        std::vector<std::string> hashes;
        for (const auto& [symbol, hash] : entry.values) {
            values[symbol] = hash;
            hashes.push_back(hash);
        }
        nlohmann::json payload = {{"kind", "entry"},
                                  {"outputs", entry.outputs_json},
                                  {"metadata", entry.metadata_json},
                                  {"key_parts", entry.key_parts_json},
                                  {"run_seconds", entry.run_seconds},
                                  {"values", values}};
        s.remote->upload(entry.key, payload.dump(), std::move(hashes));
    }
    return true;
}

namespace {
std::optional<std::string> json_text(const nlohmann::json& object, const char* name) {
    if (!object.is_object()) return std::nullopt;
    auto found = object.find(name);
    if (found == object.end() || !found->is_string()) return std::nullopt;
    return found->get<std::string>();
}
} // namespace

// An entry from the team cache: its signed document, then each value it names that is not here yet (verified by
// hash twice: by the remote and by put_value), then the entry, stored here. False (a miss) if anything is missing.
bool CacheStore::import_remote_entry(const std::string& key) {
    State& s = *state_;
    s.remote->begin_lookup();
    std::optional<std::string> document = s.remote->fetch_document(key);
    if (!document) return false;
    nlohmann::json payload = nlohmann::json::parse(*document, nullptr, false);
    if (json_text(payload, "kind") != std::optional<std::string>("entry") || !json_text(payload, "outputs") ||
        !json_text(payload, "metadata") || !json_text(payload, "key_parts") || !payload.contains("values") ||
        !payload["values"].is_object() || !payload.contains("run_seconds") || !payload["run_seconds"].is_number()) {
        s.warn("entry " + short_hash(key) +
               " from the team cache is signed but not an entry this ripple reads; ignored.");
        return false;
    }
    CacheEntry entry;
    entry.key = key;
    entry.outputs_json = *json_text(payload, "outputs");
    entry.metadata_json = *json_text(payload, "metadata");
    entry.key_parts_json = *json_text(payload, "key_parts");
    entry.run_seconds = payload["run_seconds"].get<double>();
    for (const auto& [symbol, hash] : payload["values"].items()) {
        if (!hash.is_string() || !is_sha256_hex(hash.get<std::string>())) return false;
        entry.values[symbol] = hash.get<std::string>();
    }
    for (const auto& [symbol, hash] : entry.values) {
        if (has_value(hash)) continue;
        std::optional<std::string> bytes = s.remote->fetch_blob(hash);
        if (!bytes || !put_value(hash, *bytes)) return false;
    }
    return store_here(entry);
}

bool CacheStore::store_here(const CacheEntry& entry) {
    State& s = *state_;
    if (!is_sha256_hex(entry.key)) {
        s.warn("refused to store an entry under \"" + short_hash(entry.key) + "\", which is not a key digest.");
        return false;
    }
    for (const auto& [symbol, hash] : entry.values) {
        if (s.unstored_values.count(hash)) return false; // said once by put_value (a full disk, the size limit)
    }
    if (!s.can_write()) return false;
    const std::string checksum = entry_checksum(entry);
    const std::int64_t now = now_ms();
    try {
        Transaction transaction(s.db(), Transaction::Kind::Write);
        for (const auto& [symbol, hash] : entry.values) {
            if (!s.blob_row(hash)) {
                if (s.protected_values.count(hash)) {
                    // Put (or found) by this object, then removed by another process keeping the size limit.
                    s.warn("another process removed values to keep the cache in " + s.directory.string() +
                           " under its size limit; the cells that defined them ran normally but some are not cached.");
                } else {
                    s.warn("did not store an entry for " + short_hash(entry.key) + ": value " + short_hash(hash) +
                           " of `" + symbol + "` is not in the cache (store values before the entry).");
                }
                return false;
            }
        }
        Statement(s.db(), "DELETE FROM entries WHERE key = ?").bind(1, entry.key).run();
        Statement(s.db(),
                  "INSERT INTO entries (key, outputs, metadata, key_parts, run_seconds, created_at, last_used_at,"
                  " hit_count, size, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)")
            .bind(1, entry.key)
            .bind(2, entry.outputs_json)
            .bind(3, entry.metadata_json)
            .bind(4, entry.key_parts_json)
            .bind(5, entry.run_seconds)
            .bind(6, now)
            .bind(7, now)
            .bind(8, static_cast<std::int64_t>(entry_size(entry)))
            .bind(9, checksum)
            .run();
        for (const auto& [symbol, hash] : entry.values) {
            Statement(s.db(), "INSERT INTO entry_values (key, symbol, hash) VALUES (?, ?, ?)")
                .bind(1, entry.key)
                .bind(2, symbol)
                .bind(3, hash)
                .run();
        }
        transaction.commit();
    } catch (const StoreError& error) {
        s.store_failed(error);
        return false;
    }
    s.protect_entry(entry);
    s.budget.used += entry_size(entry);
    s.keep_budget(0);
    return true;
}

// Long on purpose: the entry, its value list and its value rows are read in one snapshot and only then verified
// (checksum, rows, files); each failed check is its own miss with its own warning. Split up, the snapshot would be.
std::optional<CacheEntry> CacheStore::lookup(const std::string& key) {
    std::optional<CacheEntry> found = lookup_here(key);
    State& s = *state_;
    if (found || !is_sha256_hex(key) || !s.remote_readable() || !import_remote_entry(key)) return found;
    --s.misses; // counted by lookup_here, which now answers again
    found = lookup_here(key);
    if (found) {
        ++s.remote_hits; // written to the counters with the hits (record_hits)
    }
    return found;
}

std::optional<CacheEntry> CacheStore::lookup_here(const std::string& key) {
    State& s = *state_;
    auto miss = [&s]() -> std::optional<CacheEntry> {
        ++s.misses;
        return std::nullopt;
    };
    if (!is_sha256_hex(key) || !s.ready()) return miss();
    try {
        CacheEntry entry;
        std::string checksum;
        std::map<std::string, std::optional<State::BlobRow>> blobs;
        {
            // One snapshot: the entry, its value list and the value rows belong together.
            Transaction snapshot(s.db(), Transaction::Kind::Read);
            Statement query =
                s.prepared("SELECT outputs, metadata, key_parts, run_seconds, created_at, last_used_at, hit_count,"
                           " size, checksum FROM entries WHERE key = ?");
            query.bind(1, key);
            if (!query.step()) return miss();
            entry.key = key;
            entry.outputs_json = query.text(0);
            entry.metadata_json = query.text(1);
            entry.key_parts_json = query.text(2);
            entry.run_seconds = query.real(3);
            entry.created_at_ms = query.integer(4);
            entry.last_used_at_ms = query.integer(5);
            entry.hit_count = query.integer(6);
            entry.size_bytes = static_cast<std::uint64_t>(query.integer(7));
            checksum = query.text(8);
            Statement values = s.prepared("SELECT symbol, hash FROM entry_values WHERE key = ?");
            values.bind(1, key);
            while (values.step()) entry.values[values.text(0)] = values.text(1);
            for (const auto& [symbol, hash] : entry.values) {
                if (!blobs.count(hash)) blobs[hash] = s.blob_row(hash);
            }
            snapshot.commit();
        }
        if (entry_checksum(entry) != checksum) {
            s.warn("entry " + short_hash(key) + " in " + s.directory.string() +
                   " is damaged (its checksum does not match); ignored and removed, the cell is recomputed.");
            s.remove_entry(key);
            return miss();
        }
        for (const auto& [hash, row] : blobs) {
            if (!row) {
                s.warn("entry " + short_hash(key) + " in " + s.directory.string() + " refers to value " +
                       short_hash(hash) + ", which is gone; ignored and removed, the cell is recomputed.");
                s.remove_entry(key);
                return miss();
            }
            if (row->in_file) {
                if (auto problem = s.file_problem(hash, row->size)) {
                    s.value_damaged(hash, *problem);
                    return miss();
                }
            }
        }
        // LRU bookkeeping, later and in batches: a write per hit (a WAL append and the write lock) cost about as
        // much as the rest of the lookup. A busy or full database must not turn a hit into a miss.
        s.note_hit(key);
        s.protect_entry(entry);
        ++s.hits;
        return entry;
    } catch (const StoreError& error) {
        s.read_failed(error);
        return miss();
    }
}

std::optional<CachedExecution> CacheStore::fetch(const std::string& key) {
    std::optional<CacheEntry> entry = lookup(key);
    if (!entry) return std::nullopt;
    CachedExecution execution;
    for (const auto& [symbol, hash] : entry->values) {
        if (execution.value_bytes.count(hash)) continue;
        std::optional<std::string> bytes = load_value(hash);
        if (!bytes) {
            --state_->hits;
            ++state_->misses;
            return std::nullopt;
        }
        execution.value_bytes[hash] = std::move(*bytes);
    }
    execution.entry = std::move(*entry);
    return execution;
}

void CacheStore::invalidate(const std::string& key) { state_->remove_entry(key); }

void CacheStore::record_hits() { state_->record_hits(); }

void CacheStore::remember_cell_key(const std::string& scope, const std::string& cell, const CacheKey& key) {
    remember_cell_keys({CellKeyRecord{scope, cell, key}});
}

void CacheStore::remember_cell_keys(const std::vector<CellKeyRecord>& records) {
    State& s = *state_;
    if (records.empty() || !s.can_write()) return;
    try {
        Transaction transaction(s.db(), Transaction::Kind::Write);
        Statement insert = s.prepared(
            "INSERT OR REPLACE INTO cell_keys (scope, cell, key, key_parts, updated_at) VALUES (?, ?, ?, ?, ?)");
        const std::int64_t now = now_ms();
        for (const auto& record : records) {
            insert.bind(1, record.scope)
                .bind(2, record.cell)
                .bind(3, record.key.digest())
                .bind(4, record.key.to_json())
                .bind(5, now)
                .run();
            insert.reset();
        }
        transaction.commit();
    } catch (const StoreError& error) {
        s.store_failed(error);
    }
}

std::optional<CacheKey> CacheStore::last_cell_key(const std::string& scope, const std::string& cell) {
    State& s = *state_;
    if (!s.ready()) return std::nullopt;
    try {
        Statement query = s.prepared("SELECT key_parts FROM cell_keys WHERE scope = ? AND cell = ?");
        query.bind(1, scope).bind(2, cell);
        if (!query.step()) return std::nullopt;
        return CacheKey::from_json(query.text(0));
    } catch (const StoreError& error) {
        s.read_failed(error);
        return std::nullopt;
    }
}

namespace {
// Where a replay step lives in the team cache: a digest of the state and the request, so it cannot be confused with
// an entry's key (a digest of a CacheKey).
std::string replay_step_digest(const std::string& state, const std::string& request) {
    return sha256_hex("ripple replay step\n" + state + "\n" + request);
}
} // namespace

void CacheStore::remember_replay_step(const std::string& state, const std::string& request, const std::string& key,
                                      const std::string& step_json) {
    State& s = *state_;
    if (!(s.remote && s.remote->active())) {
        store_replay_step_here(state, request, key, step_json);
        return;
    }
    // Uploaded only when new or changed: a rerun that remembers the same step again sends nothing.
    std::optional<std::string> known;
    try {
        if (s.ready()) known = s.local_replay_step(state, request);
    } catch (const StoreError& error) {
        s.read_failed(error);
    }
    if (!store_replay_step_here(state, request, key, step_json) || known == step_json) return;
    nlohmann::json payload = {
        {"kind", "replay_step"}, {"state", state}, {"request", request}, {"key", key}, {"step", step_json}};
    s.remote->upload(replay_step_digest(state, request), payload.dump(), {});
}

std::optional<std::string> CacheStore::import_remote_replay_step(const std::string& state, const std::string& request) {
    State& s = *state_;
    s.remote->begin_lookup();
    std::optional<std::string> document = s.remote->fetch_document(replay_step_digest(state, request));
    if (!document) return std::nullopt;
    nlohmann::json payload = nlohmann::json::parse(*document, nullptr, false);
    if (json_text(payload, "kind") != std::optional<std::string>("replay_step") ||
        json_text(payload, "state") != state || json_text(payload, "request") != request ||
        !json_text(payload, "key") || !json_text(payload, "step")) {
        return std::nullopt;
    }
    std::string step = *json_text(payload, "step");
    if (!store_replay_step_here(state, request, *json_text(payload, "key"), step)) return std::nullopt;
    ++s.remote_hits; // written to the counters with the hits (record_hits)
    return step;
}

bool CacheStore::store_replay_step_here(const std::string& state, const std::string& request, const std::string& key,
                                        const std::string& step_json) {
    State& s = *state_;
    if (!s.can_write()) return false;
    try {
        Statement(s.db(),
                  "INSERT OR REPLACE INTO replay_steps (state, request, key, step, updated_at) VALUES (?, ?, ?, ?, ?)")
            .bind(1, state)
            .bind(2, request)
            .bind(3, key)
            .bind(4, step_json)
            .bind(5, now_ms())
            .run();
        return true;
    } catch (const StoreError& error) {
        s.store_failed(error);
        return false;
    }
}

std::optional<std::string> CacheStore::replay_step(const std::string& state, const std::string& request) {
    State& s = *state_;
    if (!s.ready()) return std::nullopt;
    try {
        if (auto step = s.local_replay_step(state, request)) return step;
    } catch (const StoreError& error) {
        s.read_failed(error);
        return std::nullopt;
    }
    if (!s.remote_readable()) return std::nullopt;
    return import_remote_replay_step(state, request);
}

std::optional<std::string> CacheStore::file_digest(const fs::path& path) {
    State& s = *state_;
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return std::nullopt;
    std::error_code ignored;
    const std::string where = fs::absolute(path, ignored).lexically_normal().string();
    const std::int64_t mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
    const auto size = static_cast<std::int64_t>(info.st_size);
    const auto inode = static_cast<std::int64_t>(info.st_ino);
    if (s.database) {
        try {
            Statement query =
                s.prepared("SELECT size, mtime_ns, inode, hash, hashed_at_ns FROM file_digests WHERE path = ?");
            query.bind(1, where);
            // Trusted only if the file had not changed for a while when it was hashed: a write within the same
            // mtime tick would otherwise go unnoticed.
            if (query.step() && query.integer(0) == size && query.integer(1) == mtime_ns && query.integer(2) == inode &&
                mtime_ns + kRacyFileWindowNs <= query.integer(4)) {
                return query.text(3);
            }
        } catch (const StoreError&) {
            // fall through to hashing the content
        }
    }
    const std::int64_t hashed_at = now_ns();
    std::optional<std::string> hash = sha256_file(path);
    if (!hash) return std::nullopt;
    if (s.database && s.writable) {
        try {
            BusyTimeoutScope brief(s.db(), kTouchBusyTimeoutMs, s.options.busy_timeout_ms);
            Statement(s.db(), "INSERT OR REPLACE INTO file_digests (path, size, mtime_ns, inode, hash, hashed_at_ns)"
                              " VALUES (?, ?, ?, ?, ?, ?)")
                .bind(1, where)
                .bind(2, size)
                .bind(3, mtime_ns)
                .bind(4, inode)
                .bind(5, *hash)
                .bind(6, hashed_at)
                .run();
        } catch (const StoreError&) {
            // The fast path is an optimisation only.
        }
    }
    return hash;
}

// Long on purpose: orphan values, least-recently-used entries, their unused values, stale replay steps and the value
// files to unlink are one write transaction, whose scope the steps share; stray files outside the database follow.
GcReport CacheStore::gc(std::uint64_t max_bytes) {
    State& s = *state_;
    GcReport report;
    if (!s.can_write()) return report;
    s.record_hits(); // the LRU order as of now
    const std::int64_t cutoff_ms = now_ms() - s.options.orphan_grace_seconds * 1000;
    try {
        report.bytes_before = s.total_bytes();
        {
            Transaction transaction(s.db(), Transaction::Kind::Write);
            std::vector<std::string> files;
            auto drop_value = [&](const std::string& hash, bool in_file) {
                Statement(s.db(), "DELETE FROM blobs WHERE hash = ?").bind(1, hash).run();
                ++report.values_removed;
                if (in_file) files.push_back(hash);
            };
            // Values no entry uses, older than the grace period (younger ones may be waiting for their entry).
            std::vector<std::pair<std::string, bool>> orphans;
            {
                Statement query(s.db(),
                                "SELECT hash, inline_data IS NULL FROM blobs WHERE last_used_at < ? AND NOT EXISTS"
                                " (SELECT 1 FROM entry_values v WHERE v.hash = blobs.hash)");
                query.bind(1, cutoff_ms);
                while (query.step()) orphans.emplace_back(query.text(0), query.integer(1) != 0);
            }
            for (const auto& [hash, in_file] : orphans) drop_value(hash, in_file);

            std::uint64_t total = s.total_bytes();
            while (total > max_bytes) {
                std::string key;
                std::uint64_t size = 0;
                {
                    Statement oldest(s.db(), "SELECT key, size FROM entries ORDER BY last_used_at, key LIMIT 1");
                    if (!oldest.step()) break;
                    key = oldest.text(0);
                    size = static_cast<std::uint64_t>(oldest.integer(1));
                }
                std::vector<std::string> hashes;
                {
                    Statement used(s.db(), "SELECT DISTINCT hash FROM entry_values WHERE key = ?");
                    used.bind(1, key);
                    while (used.step()) hashes.push_back(used.text(0));
                }
                Statement(s.db(), "DELETE FROM entries WHERE key = ?").bind(1, key).run();
                ++report.entries_removed;
                total -= std::min(total, size);
                for (const auto& hash : hashes) {
                    Statement still_used(s.db(), "SELECT 1 FROM entry_values WHERE hash = ? LIMIT 1");
                    still_used.bind(1, hash);
                    if (still_used.step()) continue;
                    // A value used within the grace period may be about to get a new entry (another process
                    // just put it): it stays, as an orphan that a later gc removes.
                    if (auto row = s.blob_row(hash); row && row->last_used_at < cutoff_ms) {
                        drop_value(hash, row->in_file);
                        total -= std::min(total, row->size);
                    }
                }
            }
            // Replay steps are only as good as the entries they serve; steps that carry their own outputs go
            // when the cache had to make room and they were not used within the grace period.
            execute(s.db(), "DELETE FROM replay_steps WHERE key != '' AND NOT EXISTS"
                            " (SELECT 1 FROM entries e WHERE e.key = replay_steps.key)");
            if (report.entries_removed > 0) {
                Statement(s.db(), "DELETE FROM replay_steps WHERE key = '' AND updated_at < ?")
                    .bind(1, cutoff_ms)
                    .run();
            }
            for (const auto& hash : files) {
                if (::unlink(s.value_path(hash).c_str()) == 0) ++report.files_removed;
            }
            transaction.commit();
        }
        try {
            execute(s.db(), "PRAGMA incremental_vacuum");
        } catch (const StoreError&) {
            // Space inside the database file is reused either way.
        }
        // Stray files: published values whose row never arrived (a crash), temporary files of dead writers.
        const auto file_cutoff =
            fs::file_time_type::clock::now() - std::chrono::seconds(s.options.orphan_grace_seconds);
        std::error_code error;
        for (fs::recursive_directory_iterator it(s.directory / kValuesFolder, error), end; !error && it != end;
             it.increment(error)) {
            if (!it->is_regular_file(error) || it->last_write_time(error) > file_cutoff) continue;
            std::string hash = it->path().parent_path().filename().string() + it->path().filename().string();
            if (is_sha256_hex(hash) && s.blob_row(hash)) continue;
            if (fs::remove(it->path(), error)) ++report.files_removed;
        }
        error.clear();
        for (fs::directory_iterator it(s.temp_folder(), error), end; !error && it != end; it.increment(error)) {
            if (it->is_regular_file(error) && it->last_write_time(error) <= file_cutoff &&
                fs::remove(it->path(), error)) {
                ++report.files_removed;
            }
        }
        report.bytes_after = s.total_bytes();
        s.budget.known = false; // the disk budget's running total is read again at the next store
    } catch (const StoreError& error) {
        s.warn("could not clean the cache in " + s.directory.string() + " (" + error.what() + ").");
    }
    return report;
}

CacheStats CacheStore::stats() {
    State& s = *state_;
    CacheStats stats;
    stats.session_hits = s.hits;
    stats.session_misses = s.misses;
    stats.session_remote_hits = s.remote_hits;
    stats.size_limit = s.options.max_bytes;
    stats.session_evictions = s.budget.evictions;
    if (s.options.remote) stats.remote_url = s.options.remote->url;
    if (!s.ready()) return stats;
    s.record_hits();
    try {
        Transaction snapshot(s.db(), Transaction::Kind::Read);
        {
            Statement query(s.db(),
                            "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(hit_count), 0) FROM entries");
            query.step();
            stats.entries = static_cast<std::uint64_t>(query.integer(0));
            stats.entry_bytes = static_cast<std::uint64_t>(query.integer(1));
            stats.recorded_hits = static_cast<std::uint64_t>(query.integer(2));
        }
        {
            Statement query(
                s.db(), "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(inline_data IS NULL), 0) FROM blobs");
            query.step();
            stats.values = static_cast<std::uint64_t>(query.integer(0));
            stats.value_bytes = static_cast<std::uint64_t>(query.integer(1));
            stats.file_values = static_cast<std::uint64_t>(query.integer(2));
            stats.inline_values = stats.values - stats.file_values;
        }
        stats.remote_hits = s.counter("remote_hits");
        stats.remote_uploads = s.counter("remote_uploads");
        snapshot.commit();
    } catch (const StoreError& error) {
        s.read_failed(error);
    }
    stats.total_bytes = stats.entry_bytes + stats.value_bytes;
    for (const char* suffix : {"", "-wal"}) {
        fs::path file = s.database_path;
        file += suffix;
        std::error_code error;
        auto size = fs::file_size(file, error);
        if (!error) stats.database_file_bytes += size;
    }
    return stats;
}

bool CacheStore::clear() {
    State& s = *state_;
    s.unrecorded_hits.clear();
    s.budget.known = false;
    if (!s.can_write()) return false;
    try {
        Transaction transaction(s.db(), Transaction::Kind::Write);
        for (const char* table :
             {"entry_values", "entries", "blobs", "cell_keys", "file_digests", "replay_steps", "counters"}) {
            execute(s.db(), (std::string("DELETE FROM ") + table).c_str());
        }
        std::error_code error;
        fs::remove_all(s.directory / kValuesFolder, error);
        fs::remove_all(s.temp_folder(), error);
        transaction.commit();
    } catch (const StoreError& error) {
        s.warn("could not clear the cache in " + s.directory.string() + " (" + error.what() + ").");
        return false;
    }
    try {
        execute(s.db(), "PRAGMA incremental_vacuum");
    } catch (const StoreError&) {
        // The file keeps its free pages for reuse.
    }
    return true;
}

} // namespace ripple::dag
