// test_reasons.cpp: every reason kind is worded once (dag/reason.hpp), and why, why_cache, the dry run, the rerun
// line, the stale note and the notices all show that wording. Must not know about R: runs over FakeRuntime.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

#include "dag/announcement.hpp"
#include "dag/engine.hpp"
#include "dag/reason.hpp"
#include "fake_runtime.hpp"

using ripple::dag::announce;
using ripple::dag::CacheKey;
using ripple::dag::CacheUse;
using ripple::dag::Cell;
using ripple::dag::CellRequest;
using ripple::dag::describe;
using ripple::dag::describe_all;
using ripple::dag::Engine;
using ripple::dag::EngineMode;
using ripple::dag::ExecutionReport;
using ripple::dag::Reason;
using ripple::dag::ReasonKind;
using ripple::dag::testing::FakeRuntime;
using ripple::dag::testing::MemoryCache;

namespace {

CellRequest cell(const std::string& id, const std::string& code) { return CellRequest{code, id, {}}; }

std::string bracket(const std::string& id) { return "[" + id + "]"; }

Reason sample(ReasonKind kind) {
    Reason reason(kind);
    switch (kind) {
    case ReasonKind::InputChanged: reason.symbol = "x"; break;
    case ReasonKind::FileChanged: reason.path = "data.csv"; break;
    case ReasonKind::UpstreamStale: reason.cell = "up"; break;
    case ReasonKind::OpaqueRebuilt:
    case ReasonKind::ReadsRecomputed:
        reason.symbol = "e";
        reason.cell = "up";
        break;
    case ReasonKind::KeyPartChanged: reason.detail = "code changed"; break;
    case ReasonKind::ReachesOutside: reason.detail = "a socket to 127.0.0.1:5432"; break;
    case ReasonKind::RewritesInput: reason.path = "data.csv"; break;
    default: break;
    }
    return reason;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A session whose results may be cached (FakeRuntime hashes values like rbridge does).
struct CachedSession {
    FakeRuntime runtime;
    Engine engine{runtime};
    explicit CachedSession(MemoryCache& cache) {
        runtime.supports_cache = true;
        engine.set_cache(&cache, CacheUse::ReadWrite);
    }
};

// Runs `cells`, then `edit` in reactive and in lazy mode: the reader's rerun line (reactive), and its stale-now line,
// stale note and why (lazy) all show `expected` as describe() words it.
void check_changed_input_wording(const std::vector<Cell>& cells, const Cell& edit, const std::string& reader,
                                 const Reason& expected) {
    for (EngineMode mode : {EngineMode::Reactive, EngineMode::Lazy}) {
        CAPTURE(static_cast<int>(mode));
        FakeRuntime runtime;
        Engine engine(runtime);
        engine.set_mode(mode);
        for (const auto& c : cells) engine.execute(cell(c.id, c.code));
        ExecutionReport report = engine.execute(cell(edit.id, edit.code));
        const std::string worded = describe(expected, engine.cell_namer());
        ripple::dag::Announcement said = announce(engine, report);
        const std::string name = "[" + engine.label(reader) + "]";
        if (mode == EngineMode::Reactive) {
            CHECK(report.reran_after == std::vector<std::string>{reader});
            CHECK(contains(said.text, "\u21bb reran " + name + ": " + worded + "\n"));
        } else {
            CHECK(report.marked_stale == std::vector<std::string>{reader});
            CHECK(contains(said.text, "\u26a0 stale now " + name + ": " + worded + " (lazy mode"));
            CHECK(said.stale_note == "\u26a0 stale: " + worded + " above; run this cell to update");
            CHECK(contains(engine.why(reader), name + " is stale: " + worded + "."));
        }
    }
}

} // namespace

TEST_CASE("reasons: every kind has its own wording, a clause that reads the same alone and in a group") {
    std::set<std::string> seen;
    for (ReasonKind kind : ripple::dag::all_reason_kinds()) {
        Reason reason = sample(kind);
        std::string text = describe(reason, bracket);
        CAPTURE(text);
        CHECK_FALSE(text.empty());
        CHECK(text.back() != '.');
        CHECK(describe_all({reason}, bracket) == text);
        CHECK(seen.insert(text).second);
    }
    // The pseudo-symbols read as what they stand for, the same in every sentence.
    CHECK(describe(Reason::changed_input(ripple::dag::kOptionsSymbol), bracket) == "options() changed");
    CHECK(describe(Reason::changed_input(ripple::dag::kWorkdirSymbol), bracket) == "the working directory changed");
    CHECK(describe(Reason::changed_input(ripple::dag::kSearchSymbol), bracket) == "the attached packages changed");
    CHECK(describe(Reason::changed_input(ripple::dag::kEnvSymbol), bracket) == "the environment variables changed");
    CHECK(describe(Reason::changed_input(ripple::dag::kGlobalsSymbol), bracket) == "the global environment changed");
    CHECK(describe(Reason::changed_input(ripple::dag::kFilePrefix + "a.csv"), bracket) == "file a.csv changed");
    CHECK(describe_all({Reason::changed_input("x"), Reason::changed_input(ripple::dag::kOptionsSymbol),
                        sample(ReasonKind::UpstreamStale), sample(ReasonKind::CodeEdited)},
                       bracket) == "x, options() changed; it reads from stale [up]; its code changed since it ran");
}

TEST_CASE("reasons: a changed value reads the same in the rerun line, the stale marks and why") {
    check_changed_input_wording({{"a", "x <- "}, {"b", "y <- x"}}, {"a", "x <- \n"}, "b", Reason::changed_input("x"));
}

TEST_CASE("reasons: changed attached packages read the same in the rerun line, the stale marks and why") {
    check_changed_input_wording({{"l1", "lib P"}, {"l2", "lib Q"}}, {"l1", "lib P\nlib R"}, "l2",
                                Reason::changed_input(ripple::dag::kSearchSymbol));
}

TEST_CASE("reasons: a changed file reads the same in the rerun line, the stale marks and why") {
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("ripple-reasons-" + std::to_string(getpid()) + ".csv");
    for (EngineMode mode : {EngineMode::Reactive, EngineMode::Lazy}) {
        std::ofstream(path) << "1\n";
        FakeRuntime runtime;
        Engine engine(runtime);
        engine.set_mode(mode);
        const std::vector<Cell> cells{{"f", "read " + path.string()}};
        engine.execute(cell("f", cells[0].code));
        std::ofstream(path) << "22\n";
        ExecutionReport report = engine.sync_notebook(cells);
        const std::string worded = describe(Reason::file_changed(path.string()), engine.cell_namer());
        CHECK(worded == "file " + path.string() + " changed");
        const std::string said = announce(engine, report).text;
        if (mode == EngineMode::Reactive) {
            CHECK(contains(said, "\u21bb reran [" + engine.label("f") + "]: " + worded + "\n"));
        } else {
            CHECK(contains(said, ": " + worded + " (lazy mode"));
            CHECK(contains(engine.why("f"), "is stale: " + worded + "."));
        }
    }
    std::filesystem::remove(path);
}

TEST_CASE("reasons: never ran, edited and stale upstream read the same in why") {
    FakeRuntime runtime;
    Engine engine(runtime);
    engine.set_mode(EngineMode::Lazy);
    engine.execute(cell("a", "x <- "));
    engine.execute(cell("b", "y <- x"));
    engine.execute(cell("c", "z <- y"));
    engine.execute(cell("a", "x <- \n")); // b stale directly, c through b
    const auto name = engine.cell_namer();
    CHECK(engine.why("c") ==
          "[z <- y] is stale: " + describe(Reason::upstream_stale("b"), name) + ". It depends on [y <- x] (y).");
    engine.sync_notebook({{"a", "x <- \n"}, {"b", "y <- x\n"}, {"c", "z <- y"}, {"d", "out z"}});
    CHECK(contains(engine.why("b"), "is stale: " + describe(Reason(ReasonKind::CodeEdited), name)));
    CHECK(engine.why("d") == "[out z] is stale: " + describe(Reason(ReasonKind::NeverRan), name) + ".");
}

TEST_CASE("reasons: the notice of a rebuilt opaque value is worded by describe") {
    FakeRuntime runtime;
    Engine engine(runtime);
    engine.execute(cell("e1", "env e"));
    engine.execute(cell("e2", "out e"));
    engine.execute(cell("e3", "poke e"));
    ExecutionReport report = engine.execute(cell("e2", "out e"));
    const std::string worded = describe(Reason::opaque_rebuilt("e", "e1"), engine.cell_namer());
    REQUIRE(report.notices.size() == 1);
    CHECK(report.notices[0] == "ripple: " + worded);
    CHECK(contains(announce(engine, report).text, "ripple: " + worded + "\n"));
}

TEST_CASE("reasons: why a cell cannot be cached reads the same in why_cache and the dry run") {
    const std::vector<std::pair<ReasonKind, std::string>> uncacheable{
        {ReasonKind::OptedOut, "#| cache: false\ny <- x"},
        {ReasonKind::Volatile, "volatile\ny <- x"},
        {ReasonKind::ChangesPackages, "attach"},
        {ReasonKind::ChangesOptions, "setopt"},
        {ReasonKind::ChangesWorkdir, "setwd"},
        {ReasonKind::ChangesEnvironment, "setenv"},
        {ReasonKind::RemovesEverything, "rmall"},
        {ReasonKind::DoesNotParse, "unparsable"},
    };
    for (const auto& [kind, code] : uncacheable) {
        CAPTURE(code);
        MemoryCache cache;
        CachedSession session(cache);
        session.engine.execute(cell("a", "x <- "));
        session.engine.execute(cell("b", "y <- x"));
        session.engine.execute(cell("b", code)); // a cell that does not parse keeps its last good run
        const std::string worded = describe(Reason(kind), session.engine.cell_namer());
        CHECK(session.engine.why_cache("b") ==
              "Cache: [" + session.engine.label("b") + "] cannot be cached as it is now: " + worded + ".");
        if (kind == ReasonKind::DoesNotParse) continue; // a cell that does not parse is not planned: it shows its error
        CachedSession dry(cache);
        dry.engine.set_dry_run([](const std::string&) { return std::optional<CacheKey>(); });
        dry.engine.execute(cell("a", "x <- "));
        ExecutionReport report = dry.engine.execute(cell("b", code));
        REQUIRE(report.would_run.size() == 1);
        CHECK(report.would_run[0].second == std::vector<std::string>{worded});
    }
    // A value without content (an opaque environment) cannot join a key.
    MemoryCache cache;
    CachedSession session(cache);
    session.engine.execute(cell("a", "env e"));
    session.engine.execute(cell("b", "out e"));
    CHECK(session.engine.why_cache("b") == "Cache: [out e] cannot be cached as it is now: " +
                                               describe(Reason(ReasonKind::UnhashableRead), bracket) + ".");
}

TEST_CASE("reasons: the dry run words why a cacheable cell would run with describe") {
    MemoryCache first_cache, empty_cache;
    std::optional<CacheKey> last_key;
    {
        CachedSession first(first_cache);
        first.engine.execute(cell("a", "x <- "));
        last_key = first.engine.last_key("a");
    }
    REQUIRE(last_key);
    // Ran with this key before, but the cache holds no entry for it now.
    CachedSession dry(empty_cache);
    dry.engine.set_dry_run([&](const std::string&) { return last_key; });
    ExecutionReport report = dry.engine.execute(cell("a", "x <- "));
    REQUIRE(report.would_run.size() == 1);
    CHECK(report.would_run[0].second ==
          std::vector<std::string>{describe(Reason(ReasonKind::NoMatchingEntry), bracket)});
    // Edited code and a reader of what it recomputes.
    CachedSession edited(first_cache);
    edited.engine.set_dry_run([&](const std::string& id) { return id == "a" ? last_key : std::nullopt; });
    std::vector<std::pair<std::string, std::vector<std::string>>> would_run;
    for (const auto& [id, code] : std::vector<std::pair<std::string, std::string>>{{"a", "x <- w"}, {"b", "y <- x"}}) {
        ExecutionReport run = edited.engine.execute(cell(id, code));
        would_run.insert(would_run.end(), run.would_run.begin(), run.would_run.end());
    }
    REQUIRE(would_run.size() == 2);
    const auto name = edited.engine.cell_namer();
    CHECK(would_run[0].second.at(0) == describe(Reason::key_part_changed("code changed"), name));
    CHECK(would_run[1].second == std::vector<std::string>{describe(Reason::reads_recomputed("x", "a"), name)});
    CachedSession fresh(empty_cache);
    fresh.engine.set_dry_run([](const std::string&) { return std::optional<CacheKey>(); });
    report = fresh.engine.execute(cell("n", "n <- "));
    REQUIRE(report.would_run.size() == 1);
    CHECK(report.would_run[0].second ==
          std::vector<std::string>{describe(Reason(ReasonKind::NotRunWithCache), bracket)});
}
