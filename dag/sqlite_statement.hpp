// sqlite_statement.hpp: RAII for SQLite connections and prepared statements, shared by the cache store (dag/)
// and the kernel's history store. Must not know about schemas or what a failure means to its caller.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <sqlite3.h>

namespace ripple::dag::sqlite {

struct DatabaseCloser {
    void operator()(sqlite3* database) const noexcept { sqlite3_close_v2(database); }
};
using DatabaseHandle = std::unique_ptr<sqlite3, DatabaseCloser>;

struct StatementFinalizer {
    void operator()(sqlite3_stmt* statement) const noexcept { sqlite3_finalize(statement); }
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
        return check(sqlite3_bind_blob64(get(), index, bytes.empty() ? &kEmpty : bytes.data(), bytes.size(),
                                         SQLITE_TRANSIENT));
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
        while (step()) {
        }
    }
    std::int64_t integer(int column) const { return sqlite3_column_int64(get(), column); }
    double real(int column) const { return sqlite3_column_double(get(), column); }
    bool is_null(int column) const { return sqlite3_column_type(get(), column) == SQLITE_NULL; }
    std::string text(int column) const {
        const auto* bytes = reinterpret_cast<const char*>(sqlite3_column_text(get(), column));
        return std::string(bytes != nullptr ? bytes : "", static_cast<std::size_t>(sqlite3_column_bytes(get(), column)));
    }
    std::optional<std::string> optional_text(int column) const {
        if (is_null(column)) return std::nullopt;
        return text(column);
    }
    std::string blob(int column) const {
        const auto* bytes = static_cast<const char*>(sqlite3_column_blob(get(), column));
        return std::string(bytes != nullptr ? bytes : "", static_cast<std::size_t>(sqlite3_column_bytes(get(), column)));
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

} // namespace ripple::dag::sqlite
