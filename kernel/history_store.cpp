// history_store.cpp: SQLite storage and IPython-style queries (tail, range, search) behind xeus's history manager.
// Must not know about R, sockets or the engine.
#include "kernel/history_store.hpp"

#include <algorithm>
#include <iostream>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include "dag/private_files.hpp"
#include "dag/sqlite_statement.hpp"

namespace ripple::kernel {

namespace {

constexpr const char* kInMemoryLocation = ":memory:";
constexpr int kBusyTimeoutMilliseconds = 2000;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sessions (
    session INTEGER PRIMARY KEY,
    start   TEXT
);
CREATE TABLE IF NOT EXISTS history (
    session INTEGER NOT NULL,
    line    INTEGER NOT NULL,
    source  TEXT,
    output  TEXT,
    PRIMARY KEY (session, line)
);
)sql";

// Every "newest first" query orders by rowid: the order in which lines were stored, which is also the
// chronological order when several kernels share one history file.
constexpr const char* kRowColumns = "session, line, source, output";

// A failed SQLite call, with SQLite's own message.
class SqliteError : public std::runtime_error {
public:
    SqliteError(sqlite3* database, int code, std::string_view doing)
            : std::runtime_error(std::string(doing) + ": " +
                                 (database != nullptr ? sqlite3_errmsg(database) : sqlite3_errstr(code))) {}
};

struct BackupFinisher {
    void operator()(sqlite3_backup* backup) const noexcept { sqlite3_backup_finish(backup); }
};

struct SqliteFreer {
    void operator()(char* text) const noexcept { sqlite3_free(text); }
};

// Statements of the history store raise SqliteError, saying what the query was doing.
struct RaiseHistoryError {
    [[noreturn]] void operator()(sqlite3* database, int code, dag::sqlite::Phase phase) const {
        switch (phase) {
        case dag::sqlite::Phase::Preparing: throw SqliteError(database, code, "preparing a history query");
        case dag::sqlite::Phase::Binding: throw SqliteError(database, code, "binding a history query parameter");
        default: throw SqliteError(database, code, "running a history query");
        }
    }
};
using Statement = dag::sqlite::Statement<RaiseHistoryError>;

void execute(sqlite3* database, const char* sql, std::string_view doing) {
    char* raw_message = nullptr;
    const int code = sqlite3_exec(database, sql, nullptr, nullptr, &raw_message);
    const std::unique_ptr<char, SqliteFreer> message(raw_message);
    if (code != SQLITE_OK) {
        throw std::runtime_error(std::string(doing) + ": " + (message ? message.get() : sqlite3_errstr(code)));
    }
}

HistoryStore::DatabaseHandle open_connection(const std::string& location, int flags) {
    sqlite3* raw = nullptr;
    const int code = sqlite3_open_v2(location.c_str(), &raw, flags, nullptr);
    HistoryStore::DatabaseHandle database(raw);
    if (code != SQLITE_OK) throw SqliteError(raw, code, "opening the history database");
    sqlite3_busy_timeout(raw, kBusyTimeoutMilliseconds);
    return database;
}

// Throws unless the tables have the columns this file reads and writes (an older or foreign layout).
void check_schema(sqlite3* database) {
    Statement(database, "SELECT session, line, source, output FROM history LIMIT 0");
    Statement(database, "SELECT session, start FROM sessions LIMIT 0");
}

// Opens (creating if needed) a history database ready for reading and writing.
HistoryStore::DatabaseHandle open_database(const std::string& location) {
    HistoryStore::DatabaseHandle database = open_connection(location, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    // WAL lets several kernels read and append to one history file; where the file system cannot do WAL,
    // SQLite keeps its rollback journal and says so in the pragma's result, which is fine.
    bool wal = false;
    {
        Statement journal(database.get(), "PRAGMA journal_mode = WAL");
        wal = journal.step() && journal.text(0) == "wal";
    }
    // Every cell stores a line before its reply goes out: with WAL, synchronous=FULL would cost an fsync of the
    // log per cell (0.4-0.5 ms here, the largest part of a cache hit's time in the kernel). NORMAL syncs at
    // checkpoints only; a commit survives a kernel crash and can only be lost, never corrupted, by an OS crash
    // or power cut (IPython, which writes its history in batches, loses more). Without WAL, keep the default.
    if (wal) execute(database.get(), "PRAGMA synchronous = NORMAL", "relaxing the history database's syncs");
    execute(database.get(), kSchema, "creating the history tables");
    check_schema(database.get());
    return database;
}

int start_session(sqlite3* database) {
    Statement insert(database, "INSERT INTO sessions (start) VALUES (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
    insert.step();
    return static_cast<int>(sqlite3_last_insert_rowid(database));
}

// Copies every table of source into destination; false if any page could not be read.
bool copy_database(sqlite3* source, sqlite3* destination) {
    const std::unique_ptr<sqlite3_backup, BackupFinisher> backup(
        sqlite3_backup_init(destination, "main", source, "main"));
    if (!backup) return false;
    return sqlite3_backup_step(backup.get(), -1) == SQLITE_DONE;
}

// An in-memory database holding a copy of source's history when source can still be read and has our
// layout, else an empty one.
HistoryStore::DatabaseHandle in_memory_copy_of(sqlite3* source) {
    if (source != nullptr) {
        try {
            HistoryStore::DatabaseHandle copy = open_connection(kInMemoryLocation, SQLITE_OPEN_READWRITE);
            if (copy_database(source, copy.get())) {
                execute(copy.get(), kSchema, "creating the history tables");
                check_schema(copy.get());
                return copy;
            }
        } catch (const std::exception&) {
            // unreadable or foreign: start empty below
        }
    }
    return open_database(kInMemoryLocation);
}

struct HistoryRow {
    int session = 0;
    int line = 0;
    std::string source;
    std::optional<std::string> output;
};

std::vector<HistoryRow> collect_rows(Statement& query) {
    std::vector<HistoryRow> rows;
    while (query.step()) {
        rows.push_back({static_cast<int>(query.integer(0)), static_cast<int>(query.integer(1)),
                        query.optional_text(2).value_or(""), query.optional_text(3)});
    }
    return rows;
}

nl::json history_entries(const std::vector<HistoryRow>& rows, bool with_output) {
    nl::json entries = nl::json::array();
    for (const HistoryRow& row : rows) {
        if (with_output) {
            const nl::json output = row.output ? nl::json(*row.output) : nl::json(nullptr);
            entries.push_back(nl::json::array({row.session, row.line, nl::json::array({row.source, output})}));
        } else {
            entries.push_back(nl::json::array({row.session, row.line, row.source}));
        }
    }
    return entries;
}

nl::json ok_reply(nl::json history) { return nl::json{{"status", "ok"}, {"history", std::move(history)}}; }

nl::json error_reply(const std::string& problem) {
    return nl::json{{"status", "error"},
                    {"ename", "HistoryError"},
                    {"evalue", "The history could not be read (" + problem + ")."},
                    {"traceback", nl::json::array()},
                    {"history", nl::json::array()}};
}

// Runs a query that returns newest-first rows and answers with them oldest-first.
nl::json oldest_first_reply(Statement& newest_first, bool with_output) {
    std::vector<HistoryRow> rows = collect_rows(newest_first);
    std::reverse(rows.begin(), rows.end());
    return ok_reply(history_entries(rows, with_output));
}

} // namespace

void HistoryStore::DatabaseCloser::operator()(sqlite3* database) const noexcept { sqlite3_close_v2(database); }

HistoryStore::HistoryStore(const std::filesystem::path& database_path) : database_path_(database_path) {
    const std::string location = database_path.string();
    try {
        if (location != kInMemoryLocation && !location.empty()) {
            // The user's code and outputs: their own (0600, or 0660 in a group-shared folder), WAL and shm alike.
            dag::make_private_database(database_path, dag::modes_for(database_path.parent_path()));
        }
        DatabaseHandle database = open_database(location);
        session_ = start_session(database.get());
        database_ = std::move(database);
        persists_to_file_ = location != kInMemoryLocation && !location.empty();
        return;
    } catch (const std::exception& error) {
        std::cerr << "ripple: cannot use the history file " << database_path_ << " (" << error.what()
                  << "); this session's history is kept in memory only.\n";
    }
    try {
        // A file we may not write may still be readable: keep its earlier sessions visible.
        DatabaseHandle readable;
        try {
            readable = open_connection(location, SQLITE_OPEN_READONLY);
        } catch (const std::exception&) {
            // nothing to copy
        }
        DatabaseHandle database = in_memory_copy_of(readable.get());
        session_ = start_session(database.get());
        database_ = std::move(database);
    } catch (const std::exception& error) {
        std::cerr << "ripple: history is disabled: even an in-memory database failed (" << error.what() << ").\n";
    }
}

HistoryStore::~HistoryStore() = default;

int HistoryStore::current_session() const {
    const std::lock_guard lock(mutex_);
    return session_;
}

bool HistoryStore::persists_to_file() const {
    const std::lock_guard lock(mutex_);
    return persists_to_file_;
}

void HistoryStore::configure_impl() {}

int HistoryStore::resolve_session(int session) const { return session > 0 ? session : session_ + session; }

void HistoryStore::fall_back_to_memory(const std::string& reason) {
    std::cerr << "ripple: writing the history file " << database_path_ << " failed (" << reason
              << "); the rest of this session's history is kept in memory only.\n";
    statements_.clear(); // the file database's statements go before it is replaced
    database_ = in_memory_copy_of(database_.get());
    persists_to_file_ = false;
    Statement keep_session(database_.get(), "INSERT OR IGNORE INTO sessions (session, start) "
                                            "VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
    keep_session.bind(1, session_).step();
}

template <typename Write>
void HistoryStore::write_with_fallback(const char* what, Write&& write) {
    if (!database_) return; // history disabled; the constructor already said why
    try {
        write(database_.get());
        return;
    } catch (const std::exception& error) {
        if (!persists_to_file_) {
            std::cerr << "ripple: could not " << what << " in the in-memory history (" << error.what() << ").\n";
            return;
        }
        try {
            fall_back_to_memory(error.what());
            write(database_.get());
        } catch (const std::exception& again) {
            std::cerr << "ripple: could not " << what << " even in memory (" << again.what() << ").\n";
        }
    }
}

void HistoryStore::store_inputs_impl(int /*session*/, int /*line_num*/, const std::string& /*input*/,
                                     const std::string& /*output*/) {
    // Deliberately empty: xeus 2.4.1's line numbers are wrong; the interpreter calls record_input.
}

void HistoryStore::record_input(int line_num, const std::string& input, const std::string& output) {
    const std::lock_guard lock(mutex_);
    const int target_session = session_;
    std::optional<std::string> stored_output;
    if (!output.empty()) stored_output = output;
    const bool takes_pending = target_session == session_ && pending_output_ && pending_output_->first == line_num;
    if (!stored_output && takes_pending) stored_output = pending_output_->second;
    write_with_fallback("store an input line", [&](sqlite3* database) {
        Statement insert = statements_.use<RaiseHistoryError>(database, "INSERT OR REPLACE INTO history "
                                                                        "(session, line, source, output) "
                                                                        "VALUES (?1, ?2, ?3, ?4)");
        insert.bind(1, target_session).bind(2, line_num).bind(3, input).bind(4, stored_output);
        insert.step();
    });
    if (takes_pending) pending_output_.reset();
}

void HistoryStore::record_output(int line_num, const std::string& text) {
    const std::lock_guard lock(mutex_);
    write_with_fallback("record an output", [&](sqlite3* database) {
        Statement update = statements_.use<RaiseHistoryError>(
            database, "UPDATE history SET output = ?3 WHERE session = ?1 AND line = ?2");
        update.bind(1, session_).bind(2, line_num).bind(3, text);
        update.step();
        if (sqlite3_changes(database) == 0) pending_output_ = std::make_pair(line_num, text);
    });
}

nl::json HistoryStore::get_tail_impl(int n, bool /*raw*/, bool output) const {
    const std::lock_guard lock(mutex_);
    if (!database_) return error_reply("history is disabled");
    try {
        Statement newest(database_.get(),
                         std::string("SELECT ") + kRowColumns + " FROM history ORDER BY rowid DESC LIMIT ?1");
        newest.bind(1, n);
        return oldest_first_reply(newest, output);
    } catch (const std::exception& error) {
        return error_reply(error.what());
    }
}

nl::json HistoryStore::get_range_impl(int session, int start, int stop, bool /*raw*/, bool output) const {
    const std::lock_guard lock(mutex_);
    if (!database_) return error_reply("history is disabled");
    try {
        Statement range(database_.get(), std::string("SELECT ") + kRowColumns +
                                             " FROM history WHERE session = ?1 AND line >= ?2"
                                             " AND (?3 = 0 OR line < ?3) ORDER BY line");
        range.bind(1, resolve_session(session)).bind(2, start).bind(3, stop);
        return ok_reply(history_entries(collect_rows(range), output));
    } catch (const std::exception& error) {
        return error_reply(error.what());
    }
}

nl::json HistoryStore::search_impl(const std::string& pattern, bool /*raw*/, bool output, int n, bool unique) const {
    const std::lock_guard lock(mutex_);
    if (!database_) return error_reply("history is disabled");
    try {
        // unique keeps, for each distinct source, only its most recently stored line.
        const std::string sql = unique ? std::string("SELECT ") + kRowColumns +
                                             " FROM (SELECT rowid AS stored, *, ROW_NUMBER() OVER"
                                             " (PARTITION BY source ORDER BY rowid DESC) AS recency"
                                             " FROM history WHERE source GLOB ?1)"
                                             " WHERE recency = 1 ORDER BY stored DESC LIMIT ?2"
                                       : std::string("SELECT ") + kRowColumns +
                                             " FROM history WHERE source GLOB ?1 ORDER BY rowid DESC LIMIT ?2";
        Statement newest(database_.get(), sql);
        newest.bind(1, pattern).bind(2, n > 0 ? n : -1);
        return oldest_first_reply(newest, output);
    } catch (const std::exception& error) {
        return error_reply(error.what());
    }
}

} // namespace ripple::kernel
