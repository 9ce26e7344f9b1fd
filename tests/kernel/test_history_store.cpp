// test_history_store.cpp: what a Jupyter user sees of HistoryStore: tail, range, search, outputs, restarts, fallbacks.
// Must not know about R, sockets or the kernel server; main() comes from tests/doctest_main.cpp.
#include "kernel/history_store.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

namespace fs = std::filesystem;
using ripple::kernel::HistoryStore;

namespace {

// A fresh directory under the system temp dir, removed with everything in it at the end of the test.
class TemporaryDirectory {
public:
    TemporaryDirectory() {
        static std::atomic<int> counter{0};
        path_ = fs::temp_directory_path() /
                ("ripple-history-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::create_directories(path_);
    }
    ~TemporaryDirectory() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    TemporaryDirectory(const TemporaryDirectory&) = delete;
    TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

// Captures what is written to std::cerr while alive.
class CapturedStderr {
public:
    CapturedStderr() : previous_(std::cerr.rdbuf(captured_.rdbuf())) {}
    ~CapturedStderr() { std::cerr.rdbuf(previous_); }
    CapturedStderr(const CapturedStderr&) = delete;
    CapturedStderr& operator=(const CapturedStderr&) = delete;

    std::string text() const { return captured_.str(); }
    size_t line_count() const {
        const std::string all = captured_.str();
        return static_cast<size_t>(std::count(all.begin(), all.end(), '\n'));
    }

private:
    std::ostringstream captured_;
    std::streambuf* previous_;
};

// What a client sends: the same defaults xeus's process_request applies.
nl::json tail_request(int n, bool output = false) {
    return {{"hist_access_type", "tail"}, {"n", n}, {"raw", true}, {"output", output}};
}

nl::json range_request(int session, int start, int stop, bool output = false) {
    return {{"hist_access_type", "range"},
            {"session", session},
            {"start", start},
            {"stop", stop},
            {"raw", true},
            {"output", output}};
}

nl::json search_request(const std::string& pattern, int n, bool unique = false, bool output = false) {
    return {{"hist_access_type", "search"},
            {"pattern", pattern},
            {"n", n},
            {"unique", unique},
            {"raw", true},
            {"output", output}};
}

// The sources of a reply's entries, in reply order.
std::vector<std::string> sources_of(const nl::json& reply) {
    REQUIRE(reply.at("status") == "ok");
    std::vector<std::string> sources;
    for (const nl::json& entry : reply.at("history")) {
        const nl::json& input = entry.at(2);
        sources.push_back(input.is_array() ? input.at(0).get<std::string>() : input.get<std::string>());
    }
    return sources;
}

using Sources = std::vector<std::string>;

} // namespace

TEST_CASE("tail returns the last n executed cells, oldest first, as [session, line, source]") {
    HistoryStore history(":memory:");
    CHECK_FALSE(history.persists_to_file());
    CHECK(history.current_session() == 1);
    const Sources codes = {"x <- 1", "y <- 2", "x + y", "print('hi')"};
    for (size_t i = 0; i < codes.size(); ++i) history.record_input(static_cast<int>(i) + 1, codes[i]);

    // jupyter_kernel_test: execute N codes, ask tail n=N, get exactly those N in order.
    CHECK(sources_of(history.process_request(tail_request(4))) == codes);
    CHECK(sources_of(history.process_request(tail_request(2))) == Sources{"x + y", "print('hi')"});
    CHECK(sources_of(history.process_request(tail_request(100))) == codes);
    CHECK(history.process_request(tail_request(0)).at("history").empty());

    const nl::json reply = history.process_request(tail_request(1));
    CHECK(reply.at("history") == nl::json::parse(R"json([[1, 4, "print('hi')"]])json"));
}

TEST_CASE("output=true pairs each input with the text of its execute_result, null when there was none") {
    HistoryStore history(":memory:");
    // xeus stores the input after execute_reply, so the interpreter records the output first.
    history.record_output(1, "[1] 42");
    history.record_input(1, "21 * 2");
    history.record_input(2, "invisible(3)");
    history.record_input(3, "letters[1]");
    history.record_output(3, "[1] \"a\"");              // an output recorded after its line was stored also lands
    history.record_input(4, "paste('b')", "[1] \"b\""); // and one handed straight to record_input

    const nl::json reply = history.process_request(tail_request(10, true));
    CHECK(reply.at("status") == "ok");
    CHECK(reply.at("history") == nl::json::parse(R"json([
        [1, 1, ["21 * 2", "[1] 42"]],
        [1, 2, ["invisible(3)", null]],
        [1, 3, ["letters[1]", "[1] \"a\""]],
        [1, 4, ["paste('b')", "[1] \"b\""]]
    ])json"));
    // Without output the entries stay triples.
    CHECK(history.process_request(tail_request(1)).at("history") ==
          nl::json::parse(R"json([[1, 4, "paste('b')"]])json"));
}

TEST_CASE("an output recorded for a line that is never stored does not leak onto another line") {
    HistoryStore history(":memory:");
    history.record_output(7, "[1] stray");
    history.record_input(8, "f()");
    CHECK(history.process_request(tail_request(1, true)).at("history") ==
          nl::json::parse(R"json([[1, 8, ["f()", null]]])json"));
}

TEST_CASE("range follows IPython: start <= line < stop, stop 0 means to the end, session 0 is this one") {
    HistoryStore history(":memory:");
    for (int line = 1; line <= 5; ++line) history.record_input(line, "cell " + std::to_string(line));

    CHECK(sources_of(history.process_request(range_request(0, 2, 4))) == Sources{"cell 2", "cell 3"});
    CHECK(sources_of(history.process_request(range_request(0, 3, 0))) == Sources{"cell 3", "cell 4", "cell 5"});
    CHECK(sources_of(history.process_request(range_request(1, 1, 0))).size() == 5); // session by number
    CHECK(history.process_request(range_request(0, 4, 2)).at("history").empty());
    CHECK(history.process_request(range_request(-1, 1, 0)).at("history").empty()); // no earlier session

    const nl::json entry = history.process_request(range_request(0, 5, 6, true)).at("history").at(0);
    CHECK(entry == nl::json::parse(R"json([1, 5, ["cell 5", null]])json"));
}

TEST_CASE("search matches SQLite GLOB patterns and returns the newest n, oldest first") {
    HistoryStore history(":memory:");
    const Sources codes = {"plot(x)", "summary(x)", "plot(y)", "x <- 3", "plot(x)", "plot(z)"};
    for (size_t i = 0; i < codes.size(); ++i) history.record_input(static_cast<int>(i) + 1, codes[i]);

    CHECK(sources_of(history.process_request(search_request("plot*", 0))) ==
          Sources{"plot(x)", "plot(y)", "plot(x)", "plot(z)"});
    CHECK(sources_of(history.process_request(search_request("plot*", 2))) == Sources{"plot(x)", "plot(z)"});
    CHECK(sources_of(history.process_request(search_request("plot(?)", -1))).size() == 4); // n<=0: all
    CHECK(sources_of(history.process_request(search_request("*x*", 0))) ==
          Sources{"plot(x)", "summary(x)", "x <- 3", "plot(x)"});
    CHECK(history.process_request(search_request("PLOT*", 0)).at("history").empty()); // GLOB is case-sensitive
    CHECK(sources_of(history.process_request(search_request("1?2", 0))).empty());

    SUBCASE("unique keeps only the most recent line of each distinct source") {
        const nl::json reply = history.process_request(search_request("plot*", 0, true));
        CHECK(reply.at("history") ==
              nl::json::parse(R"json([[1, 3, "plot(y)"], [1, 5, "plot(x)"], [1, 6, "plot(z)"]])json"));
        CHECK(sources_of(history.process_request(search_request("plot*", 2, true))) == Sources{"plot(x)", "plot(z)"});
    }
    SUBCASE("search with output pairs") {
        history.record_input(7, "plot(w)", "<plot>");
        CHECK(history.process_request(search_request("plot(w)", 1, false, true)).at("history") ==
              nl::json::parse(R"json([[1, 7, ["plot(w)", "<plot>"]]])json"));
    }
}

TEST_CASE("storing the same line again replaces it") {
    HistoryStore history(":memory:");
    history.record_input(1, "old");
    history.record_input(1, "new");
    CHECK(sources_of(history.process_request(tail_request(10))) == Sources{"new"});
}

TEST_CASE("history persists across kernel restarts: sessions grow, session -1 is the previous run") {
    TemporaryDirectory directory;
    const fs::path file = directory.path() / "history.sqlite";
    {
        HistoryStore first_run(file);
        CHECK(first_run.persists_to_file());
        CHECK(first_run.current_session() == 1);
        first_run.record_output(1, "[1] 1");
        first_run.record_input(1, "a <- 1; a");
        first_run.record_input(2, "b <- 2");
    }
    HistoryStore second_run(file);
    CHECK(second_run.persists_to_file());
    CHECK(second_run.current_session() == 2);
    second_run.record_input(1, "a + b");

    CHECK(second_run.process_request(range_request(-1, 1, 0, true)).at("history") ==
          nl::json::parse(R"json([[1, 1, ["a <- 1; a", "[1] 1"]], [1, 2, ["b <- 2", null]]])json"));
    CHECK(second_run.process_request(range_request(1, 2, 3)).at("history") ==
          nl::json::parse(R"json([[1, 2, "b <- 2"]])json"));
    CHECK(second_run.process_request(range_request(0, 1, 0)).at("history") ==
          nl::json::parse(R"json([[2, 1, "a + b"]])json"));
    // tail spans sessions, oldest first.
    CHECK(second_run.process_request(tail_request(3)).at("history") ==
          nl::json::parse(R"json([[1, 1, "a <- 1; a"], [1, 2, "b <- 2"], [2, 1, "a + b"]])json"));
    CHECK(sources_of(second_run.process_request(search_request("a*", 0))) == Sources{"a <- 1; a", "a + b"});

    HistoryStore third_run(file);
    CHECK(third_run.current_session() == 3);
    CHECK(sources_of(third_run.process_request(range_request(-2, 1, 0))) == Sources{"a <- 1; a", "b <- 2"});
}

TEST_CASE("an unusable history path falls back to memory with one line on stderr") {
    TemporaryDirectory directory;

    SUBCASE("a directory that does not exist") {
        CapturedStderr errors;
        HistoryStore history(directory.path() / "no" / "such" / "dir" / "history.sqlite");
        CHECK_FALSE(history.persists_to_file());
        CHECK(errors.line_count() == 1);
        CHECK(errors.text().find("history") != std::string::npos);
        history.record_input(1, "still works");
        CHECK(sources_of(history.process_request(tail_request(1))) == Sources{"still works"});
        CHECK(errors.line_count() == 1);
    }
    SUBCASE("a path that is a directory") {
        CapturedStderr errors;
        HistoryStore history(directory.path());
        CHECK_FALSE(history.persists_to_file());
        CHECK(errors.line_count() == 1);
        history.record_input(1, "x");
        CHECK(sources_of(history.process_request(tail_request(5))) == Sources{"x"});
    }
    SUBCASE("a file that is not a database is left untouched") {
        const fs::path file = directory.path() / "notes.txt";
        std::ofstream(file) << "not a database, do not overwrite\n";
        {
            CapturedStderr errors;
            HistoryStore history(file);
            CHECK_FALSE(history.persists_to_file());
            CHECK(errors.line_count() == 1);
            history.record_input(1, "x");
        }
        std::ifstream in(file);
        std::string content;
        std::getline(in, content);
        CHECK(content == "not a database, do not overwrite");
    }
    SUBCASE("a database whose tables have another layout") {
        const fs::path file = directory.path() / "foreign.sqlite";
        {
            sqlite3* raw = nullptr;
            REQUIRE(sqlite3_open(file.c_str(), &raw) == SQLITE_OK);
            const std::unique_ptr<sqlite3, int (*)(sqlite3*)> foreign(raw, sqlite3_close);
            REQUIRE(sqlite3_exec(raw, "CREATE TABLE history (id INTEGER, text TEXT)", nullptr, nullptr, nullptr) ==
                    SQLITE_OK);
        }
        CapturedStderr errors;
        HistoryStore history(file);
        CHECK_FALSE(history.persists_to_file());
        CHECK(errors.line_count() == 1);
        history.record_input(1, "y");
        CHECK(sources_of(history.process_request(tail_request(5))) == Sources{"y"});
    }
}

TEST_CASE("a file that stops taking writes mid-session keeps its history readable, in memory") {
    TemporaryDirectory directory;
    const fs::path file = directory.path() / "history.sqlite";
    {
        HistoryStore earlier_run(file);
        earlier_run.record_input(1, "from before");
    }

    HistoryStore history(file);
    history.record_input(1, "first");

    // Another process holds the write lock longer than the busy timeout (2 s).
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &raw) == SQLITE_OK);
    const std::unique_ptr<sqlite3, int (*)(sqlite3*)> locker(raw, sqlite3_close);
    REQUIRE(sqlite3_exec(raw, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);

    CapturedStderr errors;
    history.record_input(2, "second");
    CHECK_FALSE(history.persists_to_file());
    CHECK(errors.line_count() == 1);
    history.record_input(3, "third");
    CHECK(errors.line_count() == 1);
    CHECK(history.current_session() == 2);
    CHECK(history.process_request(tail_request(10)).at("history") ==
          nl::json::parse(R"json([[1, 1, "from before"], [2, 1, "first"], [2, 2, "second"], [2, 3, "third"]])json"));
    REQUIRE(sqlite3_exec(raw, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
}
