// test_sqlite_statement.cpp: the statement cache on a real in-memory SQLite database: a statement is reused
// reset and unbound, a nested use of the same SQL gets its own, and another connection starts the cache over.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "dag/sqlite_statement.hpp"

namespace sqlite = ripple::dag::sqlite;

namespace {

struct Throw {
    [[noreturn]] void operator()(sqlite3* database, int, sqlite::Phase) const {
        throw std::runtime_error(sqlite3_errmsg(database));
    }
};
using Statement = sqlite::Statement<Throw>;

sqlite::DatabaseHandle memory_database() {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(":memory:", &raw) == SQLITE_OK);
    sqlite::DatabaseHandle handle(raw);
    REQUIRE(sqlite3_exec(raw,
                         "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); "
                         "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three')",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    return handle;
}

std::string value_of(sqlite::StatementCache& cache, sqlite3* database, int key) {
    Statement query = cache.use<Throw>(database, "SELECT v FROM t WHERE k = ?");
    query.bind(1, key);
    return query.step() ? query.text(0) : "";
}

} // namespace

TEST_CASE("a cached statement is reused, reset and unbound between uses") {
    sqlite::DatabaseHandle database = memory_database();
    sqlite::StatementCache cache;
    CHECK(value_of(cache, database.get(), 1) == "one");
    CHECK(value_of(cache, database.get(), 2) == "two");
    {
        // Unbound: a parameter left unset is NULL, not the last use's value.
        Statement query = cache.use<Throw>(database.get(), "SELECT v FROM t WHERE k = ?");
        CHECK_FALSE(query.step());
    }
    CHECK(value_of(cache, database.get(), 3) == "three");
}

TEST_CASE("a nested use of the same SQL gets its own statement") {
    sqlite::DatabaseHandle database = memory_database();
    sqlite::StatementCache cache;
    Statement outer = cache.use<Throw>(database.get(), "SELECT v FROM t WHERE k = ?");
    outer.bind(1, 1);
    CHECK(value_of(cache, database.get(), 2) == "two"); // while outer is lent out
    REQUIRE(outer.step());
    CHECK(outer.text(0) == "one");
}

TEST_CASE("another connection starts the cache over; a statement lent out survives it") {
    sqlite::DatabaseHandle first = memory_database();
    sqlite::DatabaseHandle second = memory_database();
    REQUIRE(sqlite3_exec(second.get(), "UPDATE t SET v = 'uno' WHERE k = 1", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite::StatementCache cache;
    Statement lent = cache.use<Throw>(first.get(), "SELECT v FROM t WHERE k = ?");
    CHECK(value_of(cache, second.get(), 1) == "uno");
    lent.bind(1, 2);
    REQUIRE(lent.step());
    CHECK(lent.text(0) == "two");
}

TEST_CASE("a statement that does not prepare raises the caller's error") {
    sqlite::DatabaseHandle database = memory_database();
    sqlite::StatementCache cache;
    CHECK_THROWS_AS(cache.use<Throw>(database.get(), "SELECT nothing FROM nowhere"), std::runtime_error);
    CHECK(value_of(cache, database.get(), 1) == "one");
}
