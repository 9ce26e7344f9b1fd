// sqlite_statement.hpp: RAII for SQLite connections and prepared statements, shared by the cache store (dag/)
// and the kernel's history store. Must not know about schemas or what a failure means to its caller.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sqlite3.h>

namespace ripple::dag::sqlite {

struct DatabaseCloser {
    void operator()(sqlite3* database) const noexcept { sqlite3_close_v2(database); }
};
using DatabaseHandle = std::unique_ptr<sqlite3, DatabaseCloser>;

// Finalizes a statement of its own; gives a borrowed one (from a StatementCache) back, reset and unbound.
struct StatementFinalizer {
    bool* in_use = nullptr; // set for a borrowed statement: its cache's flag
    void operator()(sqlite3_stmt* statement) const noexcept {
        if (in_use == nullptr) {
            sqlite3_finalize(statement);
            return;
        }
        sqlite3_reset(statement);
        sqlite3_clear_bindings(statement);
        *in_use = false;
    }
};

// What a statement was doing when SQLite failed, for the caller's error message.
enum class Phase { Preparing, Binding, Running };

// One prepared statement: bind parameters (1-based), step through rows, read columns (0-based). Every
// failure goes to Raise{}(database, code, phase), which must throw the caller's own error type.
template <class Raise>
class Statement {
public:
    Statement(sqlite3* database, std::string_view sql) : database_(database) {
        sqlite3_stmt* raw = nullptr;
        const int code = sqlite3_prepare_v2(database, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
        statement_.reset(raw);
        if (code != SQLITE_OK) Raise{}(database, code, Phase::Preparing);
    }
    // A statement borrowed from a StatementCache (see there).
    Statement(sqlite3* database, sqlite3_stmt* borrowed, bool* in_use)
            : database_(database), statement_(borrowed, StatementFinalizer{in_use}) {
        *in_use = true;
    }
    Statement& bind(int index, std::int64_t value) { return check(sqlite3_bind_int64(get(), index, value)); }
    Statement& bind(int index, int value) { return check(sqlite3_bind_int(get(), index, value)); }
    Statement& bind(int index, double value) { return check(sqlite3_bind_double(get(), index, value)); }
    Statement& bind(int index, std::string_view text) {
        return check(sqlite3_bind_text64(get(), index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    }
    Statement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
    Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    Statement& bind(int index, const std::optional<std::string>& text) {
        return text ? bind(index, std::string_view(*text)) : bind_null(index);
    }
    Statement& bind_blob(int index, std::string_view bytes) {
        // A zero-length blob must still be a blob, not NULL.
        static const char kEmpty = 0;
        return check(
            sqlite3_bind_blob64(get(), index, bytes.empty() ? &kEmpty : bytes.data(), bytes.size(), SQLITE_TRANSIENT));
    }
    Statement& bind_null(int index) { return check(sqlite3_bind_null(get(), index)); }

    // True while a row is ready to read; false once the statement is done.
    bool step() {
        const int code = sqlite3_step(get());
        if (code == SQLITE_ROW) return true;
        if (code == SQLITE_DONE) return false;
        Raise{}(database_, code, Phase::Running);
        return false;
    }
    void run() {
        while (step()) {}
    }
    // Ready to run again with new bindings (the old ones are cleared).
    void reset() {
        sqlite3_reset(get());
        sqlite3_clear_bindings(get());
    }
    std::int64_t integer(int column) const { return sqlite3_column_int64(get(), column); }
    double real(int column) const { return sqlite3_column_double(get(), column); }
    bool is_null(int column) const { return sqlite3_column_type(get(), column) == SQLITE_NULL; }
    std::string text(int column) const {
        const auto* bytes = reinterpret_cast<const char*>(sqlite3_column_text(get(), column));
        return std::string(bytes != nullptr ? bytes : "",
                           static_cast<std::size_t>(sqlite3_column_bytes(get(), column)));
    }
    std::optional<std::string> optional_text(int column) const {
        if (is_null(column)) return std::nullopt;
        return text(column);
    }
    std::string blob(int column) const {
        const auto* bytes = static_cast<const char*>(sqlite3_column_blob(get(), column));
        return std::string(bytes != nullptr ? bytes : "",
                           static_cast<std::size_t>(sqlite3_column_bytes(get(), column)));
    }

private:
    sqlite3_stmt* get() const { return statement_.get(); }
    Statement& check(int code) {
        if (code != SQLITE_OK) Raise{}(database_, code, Phase::Binding);
        return *this;
    }
    sqlite3* database_;
    std::unique_ptr<sqlite3_stmt, StatementFinalizer> statement_;
};

// Statements prepared once per connection and reused: preparing costs about as much as running the small
// queries of a cache lookup. A statement is lent to one Statement at a time (a nested use of the same SQL gets
// a fresh one), and the cache starts over when given another connection, so a reopened database is safe.
// Must be destroyed (or cleared) before its connection is closed.
class StatementCache {
public:
    StatementCache() = default;
    StatementCache(const StatementCache&) = delete;
    StatementCache& operator=(const StatementCache&) = delete;
    ~StatementCache() {
        clear();
        for (auto& slot : retired_) sqlite3_finalize(slot->statement);
    }

    template <class Raise>
    Statement<Raise> use(sqlite3* database, const std::string& sql) {
        if (database != database_) {
            clear();
            database_ = database;
        }
        std::unique_ptr<Slot>& slot = slots_[sql];
        if (!slot) slot = std::make_unique<Slot>();
        if (slot->in_use) return Statement<Raise>(database, sql);
        if (slot->statement == nullptr) {
            const int code = sqlite3_prepare_v3(database, sql.data(), static_cast<int>(sql.size()),
                                                SQLITE_PREPARE_PERSISTENT, &slot->statement, nullptr);
            if (code != SQLITE_OK) {
                sqlite3_finalize(slot->statement);
                slot->statement = nullptr;
                Raise{}(database, code, Phase::Preparing);
            }
        }
        return Statement<Raise>(database, slot->statement, &slot->in_use);
    }

    // Finalizes every statement not lent out; one still lent is finalized once it is back.
    void clear() noexcept {
        for (auto& [sql, slot] : slots_) {
            if (slot->in_use) retired_.push_back(std::move(slot));
            else sqlite3_finalize(slot->statement);
        }
        slots_.clear();
        for (auto slot = retired_.begin(); slot != retired_.end();) {
            if ((*slot)->in_use) {
                ++slot;
                continue;
            }
            sqlite3_finalize((*slot)->statement);
            slot = retired_.erase(slot);
        }
        database_ = nullptr;
    }

private:
    struct Slot {
        sqlite3_stmt* statement = nullptr;
        bool in_use = false;
    };
    sqlite3* database_ = nullptr;
    std::map<std::string, std::unique_ptr<Slot>> slots_;
    std::vector<std::unique_ptr<Slot>> retired_;
};

} // namespace ripple::dag::sqlite
