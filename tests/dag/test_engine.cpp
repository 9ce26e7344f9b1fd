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
    CHECK(runtime.printed["d3"] == "ERROR");  // v no longer defined anywhere above
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
    CHECK(report.reran_after.empty());  // re-attaching the same package changes nothing
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
    CHECK(report.marked_stale == std::vector<std::string>{"l2", "l3"});  // l3 through its stale upstream
    CHECK(engine.staleness("l3").stale);  // through its stale upstream l2
    CHECK(engine.why("l3").find("stale") != std::string::npos);
    size_t runs = runtime.run_log.size();
    report = engine.execute(cell("l3", "out b"));
    CHECK(report.ran_before == std::vector<std::string>{"l2"});
    CHECK(runtime.run_log.size() == runs + 2);
    CHECK(runtime.printed["l3"] == "b(a(q()));");
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
    for (unsigned seed = 1; seed <= 300; ++seed) {
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
        std::vector<Cell> document;
        std::map<std::string, std::string> shown;
        int next_id = 0;
        std::string trail;
        for (int step = 0; step < 12; ++step) {
            size_t op = document.empty() ? 0 : pick(5);
            std::vector<std::string> deleted;
            std::string target;
            if (op == 0 || op == 1) {  // insert after the last executed cell (what the kernel assumes)
                Cell fresh{"c" + std::to_string(next_id++), random_code()};
                auto last = engine.order().last_executed();
                size_t at = document.size();
                for (size_t i = 0; i < document.size(); ++i) {
                    if (last && document[i].id == *last) at = i + 1;
                }
                document.insert(document.begin() + static_cast<std::ptrdiff_t>(at), fresh);
                target = fresh.id;
            } else if (op == 2) {  // edit and run
                Cell& edited = document[pick(document.size())];
                edited.code = random_code();
                target = edited.id;
            } else if (op == 3 && document.size() > 1) {  // delete, reported with the next execution
                size_t victim = pick(document.size());
                deleted.push_back(document[victim].id);
                shown.erase(document[victim].id);
                document.erase(document.begin() + static_cast<std::ptrdiff_t>(victim));
                target = document[pick(document.size())].id;
            } else {  // run again
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
                INFO("seed " << seed << ", cell " << c.id << "\n" << trail);
                CHECK(shown[c.id] == expected[c.id]);
            }
            for (const auto& name : names) {
                engine.execute(CellRequest{"out " + name, std::nullopt, {}});
                INFO("seed " << seed << ", probe " << name << "\n" << trail);
                CHECK(runtime.global(name) == fresh.global(name));
            }
        }
    }
}
