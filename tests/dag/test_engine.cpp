// test_engine.cpp: unit tests of the engine (reaching definitions, staleness, reruns) over a fake runtime.
// Must not know about R: FakeRuntime's pretend language makes every binding's history visible in its text.
#include <doctest/doctest.h>

#include <random>

#include "dag/engine.hpp"
#include "fake_runtime.hpp"

using ripple::dag::Cell;
using ripple::dag::CellRequest;
using ripple::dag::Engine;
using ripple::dag::EngineMode;
using ripple::dag::ExecutionReport;
using ripple::dag::testing::FakeRuntime;

namespace {

CellRequest cell(const std::string& id, const std::string& code, std::vector<std::string> deleted = {}) {
    return CellRequest{code, id, std::move(deleted)};
}

// What a fresh session prints for each cell, running the document top to bottom.
std::map<std::string, std::string> fresh_run(const std::vector<Cell>& cells, FakeRuntime& fresh) {
    for (const auto& c : cells) fresh.run(c.code, ripple::dag::RunContext{c.id, true, 0}, {});
    return fresh.printed;
}

} // namespace

TEST_CASE("an edit reruns exactly the cells downstream of it") {
    FakeRuntime runtime;
    Engine engine(runtime);
    engine.execute(cell("b", "b <-"));
    engine.execute(cell("a", "a <-"));
    engine.execute(cell("ua", "out a"));
    engine.execute(cell("ub", "out b"));
    ExecutionReport report = engine.execute(cell("a", "a <- b"));
    CHECK(report.reran_after == std::vector<std::string>{"ua"});
    CHECK(report.reasons["ua"] == std::set<std::string>{"a"});
    CHECK(runtime.printed["ua"] == "a(b());");
}

TEST_CASE("redefinitions: each reader sees its reaching definition, not the last run") {
    FakeRuntime runtime;
    Engine engine(runtime);
    engine.execute(cell("c1", "x <-"));
    engine.execute(cell("c2", "out x"));
    engine.execute(cell("c3", "x += "));
    engine.execute(cell("c4", "out x"));
    CHECK(runtime.printed["c4"] == "x(x());");
    // Running c2 again must read c1's x, although c3's x is the one bound last.
    engine.execute(cell("c2", "out x"));
    CHECK(runtime.printed["c2"] == "x();");
    // Editing c1 reruns c2, c3 and c4 (c4 through c3), in document order.
    ExecutionReport report = engine.execute(cell("c1", "x <- y\ny <-"));
    CHECK(report.requested_failed);
    report = engine.execute(cell("c1", "y <-\nx <- y"));
    CHECK(report.reran_after == std::vector<std::string>{"c2", "c3", "c4"});
    CHECK(runtime.printed["c4"] == "x(x(y()));");
}

TEST_CASE("a cell reading a name defined below it fails like a fresh run, an anonymous cell sees the end") {
    FakeRuntime runtime;
    Engine engine(runtime);
    engine.execute(cell("top", "z <-"));
    engine.execute(cell("bottom", "w <- z"));
    // Re-executing `top` as a reader of w: w is defined below it, so it must not be visible.
    ExecutionReport report = engine.execute(cell("top", "out w"));
    CHECK(report.requested_failed);
    CHECK(runtime.printed["top"] == "ERROR");
    // bottom read z from top, which no longer defines it: it reruns and fails too.
    CHECK(report.reran_after == std::vector<std::string>{"bottom"});
    CHECK(runtime.printed["bottom"] == "ERROR");
    report = engine.execute(CellRequest{"out z", std::nullopt, {}});
    CHECK(report.requested_failed);
}

TEST_CASE("deleting a cell removes its definitions and reruns its readers") {
    FakeRuntime runtime;
    Engine engine(runtime);
    engine.execute(cell("d1", "v <-"));
    engine.execute(cell("d2", "v += "));
    engine.execute(cell("d3", "out v"));
    ExecutionReport report = engine.execute(cell("d1", "v <-"));
    report = engine.execute(cell("d1", "k <-", {"d2"}));
    CHECK(report.removed_cells == std::vector<std::string>{"d2"});
    CHECK(runtime.printed["d3"] == "ERROR"); // v no longer defined anywhere above
    CHECK(engine.why("d3").find("up to date") != std::string::npos);
}

TEST_CASE("moving a cell through the front end's notebook view reruns what it now affects") {
    FakeRuntime runtime;
    Engine engine(runtime);
    engine.execute(cell("m1", "x <-"));
    engine.execute(cell("m2", "out x"));
    engine.execute(cell("m3", "x <- x"));
    // Move m3 above m2: m2 now reads m3's x.
    ExecutionReport report = engine.sync_notebook({{"m1", "x <-"}, {"m3", "x <- x"}, {"m2", "out x"}});
    CHECK(report.reran_after == std::vector<std::string>{"m2"});
    CHECK(runtime.printed["m2"] == "x(x());");
}

TEST_CASE("packages attached by a cell are soft definitions of their exports") {
    FakeRuntime runtime;
    Engine engine(runtime);
    engine.execute(cell("lib", "lib P"));
    engine.execute(cell("use", "out pf"));
    CHECK(runtime.printed["use"] == "P::pf;");
    ExecutionReport report = engine.execute(cell("lib", "lib P"));
    CHECK(report.reran_after.empty()); // re-attaching the same package changes nothing
    report = engine.execute(cell("other", "q <-", {"lib"}));
    CHECK(report.reran_after == std::vector<std::string>{"use"});
    CHECK(runtime.printed["use"] == "ERROR");
}

TEST_CASE("lazy mode marks dependents stale and runs stale upstream cells first") {
    FakeRuntime runtime;
    Engine engine(runtime);
    engine.set_mode(EngineMode::Lazy);
    engine.execute(cell("l1", "a <-"));
    engine.execute(cell("l2", "b <- a"));
    engine.execute(cell("l3", "out b"));
    ExecutionReport report = engine.execute(cell("l1", "a <- q\nq <-"));
    report = engine.execute(cell("l1", "q <-\na <- q"));
    CHECK(report.reran_after.empty());
    CHECK(report.marked_stale == std::vector<std::string>{"l2", "l3"}); // l3 through its stale upstream
    CHECK(engine.staleness("l3").stale);                                // through its stale upstream l2
    CHECK(engine.why("l3").find("stale") != std::string::npos);
    size_t runs = runtime.run_log.size();
    report = engine.execute(cell("l3", "out b"));
    CHECK(report.ran_before == std::vector<std::string>{"l2"});
    CHECK(runtime.run_log.size() == runs + 2);
    CHECK(runtime.printed["l3"] == "b(a(q()));");
}

TEST_CASE("lazy mode runs a whole stale chain upstream, not only the directly stale cell") {
    FakeRuntime runtime;
    Engine engine(runtime);
    engine.set_mode(EngineMode::Lazy);
    engine.execute(cell("a", "a <-"));
    engine.execute(cell("b", "b <- a"));
    engine.execute(cell("c", "c <- b"));
    engine.execute(cell("d", "out c"));
    engine.execute(cell("a", "a <- \n")); // edited: b directly stale, c and d through it
    ExecutionReport report = engine.execute(cell("d", "out c"));
    CHECK(report.ran_before == std::vector<std::string>{"b", "c"});
    CHECK(report.marked_stale.empty());
    CHECK(runtime.printed["d"] == "c(b(a()));");
    CHECK_FALSE(engine.staleness("d").stale);
}

TEST_CASE("an opaque value changed in place is rebuilt by rerunning its defining cell, with a notice") {
    FakeRuntime runtime;
    Engine engine(runtime);
    engine.execute(cell("e1", "env e"));
    engine.execute(cell("e2", "out e"));
    engine.execute(cell("e3", "poke e"));
    engine.execute(cell("e4", "out e"));
    CHECK(runtime.printed["e4"] == "env+poke;");
    ExecutionReport report = engine.execute(cell("e2", "out e"));
    CHECK(runtime.printed["e2"] == "env;");
    REQUIRE(report.notices.size() == 1);
    CHECK(report.notices[0].find("rebuild `e`") != std::string::npos);
    CHECK(runtime.printed["e4"] == "env+poke;");
}

TEST_CASE("an opaque value no cell changes any more is rebuilt at the document's end, for whatever reads it next") {
    // The cell that changed e in place is edited not to touch it: no cell below reads e, but the next request
    // (a console line, the differential test's probe) would see the changed object.
    FakeRuntime runtime;
    Engine engine(runtime);
    engine.execute(cell("e1", "env e"));
    engine.execute(cell("e2", "poke e"));
    ExecutionReport report = engine.execute(cell("e2", "x <-"));
    REQUIRE(report.notices.size() == 1);
    CHECK(report.notices[0].find("rebuild `e`") != std::string::npos);
    CHECK(report.reran_after == std::vector<std::string>{"e1"});
    engine.execute(CellRequest{"out e", std::nullopt, {}});
    CHECK(runtime.printed[""] == "env;");
}

TEST_CASE("released values: every value the engine stops needing is released") {
    FakeRuntime runtime;
    {
        Engine engine(runtime);
        for (int i = 0; i < 5; ++i) engine.execute(cell("r", "x <-"));
        engine.execute(cell("s", "y <- x", {"r"}));
    }
    CHECK(runtime.live_values() == 0);
}

// Random edit sessions over the pretend language: after every step, what each cell shows equals a
// fresh top-to-bottom run of the current document. The seed is in the failure message.
TEST_CASE("differential: random edit sessions match a fresh run after every step") {
    const std::vector<std::string> names{"a", "b", "c"};
    // Second pass: every session shares one cache, so a wrong key shows up as a wrong output or value.
    ripple::dag::testing::MemoryCache shared_cache;
    for (unsigned seed = 1; seed <= 600; ++seed) {
        const bool cached = seed > 300;
        std::mt19937 random(seed);
        auto pick = [&](size_t n) { return static_cast<size_t>(random() % n); };
        auto random_code = [&]() {
            std::string code;
            size_t lines = 1 + pick(2);
            for (size_t i = 0; i < lines; ++i) {
                const std::string& target = names[pick(names.size())];
                switch (pick(6)) {
                case 0: code += target + " <-\n"; break;
                case 1: code += target + " <- " + names[pick(names.size())] + "\n"; break;
                case 2: code += target + " += " + names[pick(names.size())] + "\n"; break;
                case 3: code += "rm " + target + "\n"; break;
                default: code += "out " + target + "\n"; break;
                }
            }
            return code;
        };
        FakeRuntime runtime;
        Engine engine(runtime);
        if (cached) {
            runtime.supports_cache = true;
            engine.set_cache(&shared_cache, ripple::dag::CacheUse::ReadWrite);
        }
        std::vector<Cell> document;
        std::map<std::string, std::string> shown;
        int next_id = 0;
        std::string trail;
        for (int step = 0; step < 12; ++step) {
            size_t op = document.empty() ? 0 : pick(5);
            std::vector<std::string> deleted;
            std::string target;
            if (op == 0 || op == 1) { // insert after the last executed cell (what the kernel assumes)
                Cell fresh{"c" + std::to_string(next_id++), random_code()};
                auto last = engine.order().last_executed();
                size_t at = document.size();
                for (size_t i = 0; i < document.size(); ++i) {
                    if (last && document[i].id == *last) at = i + 1;
                }
                document.insert(document.begin() + static_cast<std::ptrdiff_t>(at), fresh);
                target = fresh.id;
            } else if (op == 2) { // edit and run
                Cell& edited = document[pick(document.size())];
                edited.code = random_code();
                target = edited.id;
            } else if (op == 3 && document.size() > 1) { // delete, reported with the next execution
                size_t victim = pick(document.size());
                deleted.push_back(document[victim].id);
                shown.erase(document[victim].id);
                document.erase(document.begin() + static_cast<std::ptrdiff_t>(victim));
                target = document[pick(document.size())].id;
            } else { // run again
                target = document[pick(document.size())].id;
            }
            std::string code;
            for (const auto& c : document) {
                if (c.id == target) code = c.code;
            }
            trail += "step " + std::to_string(step) + ": op " + std::to_string(op) + " on " + target + ":";
            for (const auto& c : document) trail += " [" + c.id + ": " + c.code + "]";
            trail += "\n";
            runtime.printed.clear();
            engine.execute(cell(target, code, deleted));
            for (const auto& [id, text] : runtime.printed) shown[id] = text;

            FakeRuntime fresh;
            std::map<std::string, std::string> expected = fresh_run(document, fresh);
            for (const auto& c : document) {
                INFO("seed " << seed << (cached ? " (cached)" : "") << ", cell " << c.id << "\n" << trail);
                CHECK(shown[c.id] == expected[c.id]);
            }
            for (const auto& name : names) {
                engine.execute(CellRequest{"out " + name, std::nullopt, {}});
                INFO("seed " << seed << (cached ? " (cached)" : "") << ", probe " << name << "\n" << trail);
                CHECK(runtime.global(name) == fresh.global(name));
            }
        }
    }
    CHECK(shared_cache.hits > 100); // the cached pass really was served from the cache
}

// ---- the content-hash cache, as the engine uses it --------------------------------------------------

namespace {

using ripple::dag::CacheUse;
using ripple::dag::testing::MemoryCache;

struct CachedSession {
    FakeRuntime runtime;
    Engine engine{runtime};
    explicit CachedSession(MemoryCache& cache, CacheUse use = CacheUse::ReadWrite) {
        runtime.supports_cache = true;
        engine.set_cache(&cache, use);
    }
};

} // namespace

TEST_CASE("cache: a restarted session re-executes cached cells without running them, values and outputs restored") {
    MemoryCache cache;
    std::vector<std::pair<std::string, std::string>> cells{{"a", "x <- "}, {"b", "y <- x"}, {"c", "out y"}};
    std::map<std::string, std::string> first_printed;
    {
        CachedSession first(cache);
        for (const auto& [id, code] : cells) first.engine.execute(cell(id, code));
        CHECK(first.runtime.run_log.size() == 3);
        first_printed = first.runtime.printed;
    }
    CachedSession second(cache);
    std::vector<std::string> served;
    for (const auto& [id, code] : cells) {
        ExecutionReport report = second.engine.execute(cell(id, code));
        served.insert(served.end(), report.from_cache.begin(), report.from_cache.end());
    }
    CHECK(second.runtime.run_log.empty());
    CHECK(served == std::vector<std::string>{"a", "b", "c"});
    CHECK(second.runtime.printed["c"] == first_printed["c"]);
    CHECK(second.runtime.global("y") == "y(x())");
    // The restored values are real inputs: a new cell reading them runs against them.
    second.engine.execute(cell("d", "z <- y"));
    CHECK(second.runtime.global("z") == "z(y(x()))");
}

TEST_CASE("cache: layout and comment edits hit; a changed upstream value or code misses") {
    MemoryCache cache;
    CachedSession session(cache);
    session.engine.execute(cell("w", "w <- "));
    session.engine.execute(cell("a", "x <- "));
    session.engine.execute(cell("b", "y <- x"));
    session.runtime.run_log.clear();
    ExecutionReport report = session.engine.execute(cell("b", "y   <-   x   # the same work"));
    CHECK(report.from_cache == std::vector<std::string>{"b"});
    CHECK(session.runtime.run_log.empty());
    // An upstream edit changes x's content: b's key changes and it really reruns.
    report = session.engine.execute(cell("a", "x <- w"));
    CHECK(report.reran_after == std::vector<std::string>{"b"});
    CHECK(report.from_cache.empty());
    CHECK(session.runtime.run_log == std::vector<std::string>{"x <- w", "y   <-   x   # the same work"});
    CHECK(session.runtime.global("y") == "y(x(w()))");
    // Back to the old code: both come from the cache, with the old values.
    session.runtime.run_log.clear();
    report = session.engine.execute(cell("a", "x <- "));
    CHECK(session.runtime.run_log.empty());
    CHECK(report.from_cache == std::vector<std::string>{"a", "b"});
    CHECK(session.runtime.global("y") == "y(x())");
}

TEST_CASE("cache: --force recomputes and refreshes; opted-out, volatile and failing cells are never served") {
    MemoryCache cache;
    {
        CachedSession first(cache);
        first.engine.execute(cell("a", "x <- "));
        first.engine.execute(cell("b", "#| cache: false\ny <- x"));
        first.engine.execute(cell("c", "out nothing")); // fails: nothing is unbound
    }
    CachedSession forced(cache, CacheUse::WriteOnly);
    forced.engine.execute(cell("a", "x <- "));
    CHECK(forced.runtime.run_log.size() == 1);
    CachedSession again(cache);
    again.engine.execute(cell("a", "x <- "));
    again.engine.execute(cell("b", "#| cache: false\ny <- x"));
    again.engine.execute(cell("c", "out nothing"));
    CHECK(again.runtime.run_log == std::vector<std::string>{"#| cache: false\ny <- x", "out nothing"});
    CHECK(again.engine.label("b") == "y <- x"); // option lines are not what a label should show
    CHECK(again.engine.why_cache("b") == "Cache: [y <- x] cannot be cached as it is now: it opts out of the cache "
                                         "(cache: false).");
    CHECK(ripple::dag::cell_cache_choice("  #| cache: true\nx <- 1") == ripple::dag::CellCacheChoice::Always);
    CHECK(ripple::dag::cell_cache_choice("x <- 1\n#| cache: false") == ripple::dag::CellCacheChoice::Default);
}

TEST_CASE("cache: early cutoff: a rerun that reproduces the same value leaves its readers up to date") {
    MemoryCache cache;
    CachedSession session(cache, CacheUse::WriteOnly); // every run really runs: only the cutoff can spare b
    session.engine.execute(cell("a", "x <- "));
    session.engine.execute(cell("b", "y <- x"));
    session.runtime.run_log.clear();
    ExecutionReport report = session.engine.execute(cell("a", "x <-   ")); // same tokens, same value
    CHECK(session.runtime.run_log == std::vector<std::string>{"x <-   "});
    CHECK(report.reran_after.empty());
    CHECK_FALSE(session.engine.staleness("b").stale);
}

TEST_CASE("cache: a cell's evaluation options are part of its key, presentation options are not") {
    MemoryCache cache;
    CachedSession session(cache);
    CellRequest plot = cell("p", "x <- ");
    plot.options = {{"fig.width", "7"}, {"echo", "TRUE"}};
    session.engine.execute(plot);
    plot.options = {{"fig.width", "7"}, {"echo", "FALSE"}};
    CHECK(session.engine.execute(plot).from_cache == std::vector<std::string>{"p"});
    plot.options = {{"fig.width", "9"}};
    CHECK(session.engine.execute(plot).from_cache.empty());
}

TEST_CASE("cache: a dry run serves what hits, and says which cells would run and why") {
    MemoryCache cache;
    std::map<std::string, ripple::dag::CacheKey> keys;
    {
        CachedSession first(cache);
        for (auto [id, code] : std::vector<std::pair<std::string, std::string>>{
                 {"a", "x <- "}, {"b", "y <- x"}, {"c", "w <- "}, {"d", "z <- w"}}) {
            first.engine.execute(cell(id, code));
            keys[id] = *first.engine.last_key(id);
        }
    }
    CachedSession dry(cache);
    dry.engine.set_dry_run([&](const std::string& id) -> std::optional<ripple::dag::CacheKey> {
        auto found = keys.find(id);
        if (found == keys.end()) return std::nullopt;
        return found->second;
    });
    std::vector<std::pair<std::string, std::vector<std::string>>> would_run;
    for (auto [id, code] : std::vector<std::pair<std::string, std::string>>{{"a", "x <- "},
                                                                            {"b", "y <- x"},
                                                                            {"c", "w <- x"},
                                                                            {"d", "z <- w"},
                                                                            {"e", "e <- "},
                                                                            {"f", "#| cache: false\nv <- y"}}) {
        ExecutionReport report = dry.engine.execute(cell(id, code));
        would_run.insert(would_run.end(), report.would_run.begin(), report.would_run.end());
    }
    CHECK(dry.runtime.run_log.empty());
    REQUIRE(would_run.size() == 4);
    CHECK(would_run[0].first == "c");
    CHECK(would_run[0].second.at(0) == "code changed"); // first: the most telling part
    CHECK(would_run[1].first == "d");
    CHECK(would_run[1].second == std::vector<std::string>{"it reads `w`, which [w <- x] recomputes"});
    CHECK(would_run[2].first == "e");
    CHECK(would_run[2].second == std::vector<std::string>{"it has not run with this cache"});
    CHECK(would_run[3].first == "f");
    CHECK(would_run[3].second == std::vector<std::string>{"it opts out of the cache (cache: false)"});
    CHECK(dry.runtime.global("y") == "y(x())"); // served cells restored their values
}

TEST_CASE("a restore is told only the names the cells since the last one bound, and nothing after a change above") {
    FakeRuntime runtime;
    Engine engine(runtime);
    engine.execute(cell("c0", "v0 <-"));
    for (int i = 1; i < 6; ++i)
        engine.execute(cell("c" + std::to_string(i), "v" + std::to_string(i) + " <- v" + std::to_string(i - 1)));
    // Top to bottom: the restore before c5 is told c4's v4 alone (the fake then looks at nothing else).
    REQUIRE(runtime.restore_hints.back().has_value());
    CHECK(*runtime.restore_hints.back() == std::set<std::string>{"v4"});
    // Rerunning c2 restores the state above it: the memo is recomputed, so that restore is told nothing (every name
    // is looked at), and the cells below rerun with the values a fresh run gives.
    size_t before = runtime.restore_hints.size();
    engine.execute(cell("c2", "v2 <- v1 v0"));
    REQUIRE(runtime.restore_hints.size() > before);
    CHECK(!runtime.restore_hints[before].has_value());
    CHECK(runtime.global("v5") == "v5(v4(v3(v2(v1(v0()),v0()))))");
    // Running the same cell twice: its restore is told nothing new, and still undoes what its last run bound.
    engine.execute(cell("twice", "w <- v5"));
    engine.execute(cell("twice", "w <- v5"));
    CHECK(runtime.restore_hints.back() == std::set<std::string>{});
}
