// test_replay_chain.cpp: the replay chain over the engine on the fake runtime: a second run from the same origin is
// served step by step without the runtime; another origin, an edit, a replaced entry or a failure is not.
#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dag/engine.hpp"
#include "dag/replay_chain.hpp"
#include "fake_runtime.hpp"

using ripple::dag::CacheUse;
using ripple::dag::CellRequest;
using ripple::dag::Engine;
using ripple::dag::ReplayChain;
using ripple::dag::testing::FakeRuntime;
using ripple::dag::testing::MemoryCache;

namespace {

using Cells = std::vector<std::pair<std::string, std::string>>;

// One run with the runtime, as run-notebook does it once R has started: execute each cell, extend the chain.
void run_with_runtime(MemoryCache& cache, const std::string& origin, const Cells& cells) {
    FakeRuntime runtime;
    runtime.supports_cache = true;
    Engine engine(runtime);
    engine.set_cache(&cache, CacheUse::ReadWrite);
    engine.set_replay_steps(true);
    ReplayChain chain(cache, origin);
    for (const auto& [id, code] : cells) {
        engine.execute(CellRequest{code, id, {}, {}});
        chain.extend(code, {}, engine.replay_step(id));
    }
}

// How many cells, from the top, a run without the runtime serves.
size_t served_without_runtime(MemoryCache& cache, const std::string& origin, const Cells& cells,
                              std::vector<std::string>* outputs = nullptr) {
    ReplayChain chain(cache, origin);
    size_t served = 0;
    for (const auto& [id, code] : cells) {
        auto step = chain.advance(code, {});
        if (!step) break;
        CHECK(step->from_entry);
        if (outputs) outputs->push_back(step->outputs);
        ++served;
    }
    return served;
}

const Cells kCells{{"a", "x <- "}, {"b", "y <- x"}, {"c", "out y"}};

} // namespace

TEST_CASE("replay chain: a second run from the same origin is served without the runtime, with the same outputs") {
    MemoryCache cache;
    run_with_runtime(cache, "origin-1", kCells);
    CHECK(cache.steps.size() == 3);
    std::vector<std::string> outputs;
    REQUIRE(served_without_runtime(cache, "origin-1", kCells, &outputs) == 3);
    CHECK(outputs.back() == "y(x());");
    CHECK(served_without_runtime(cache, "origin-2", kCells) == 0); // another R, another environment
}

TEST_CASE("replay chain: an edit stops it at the edited cell; the state after it depends on every step before") {
    MemoryCache cache;
    run_with_runtime(cache, "o", kCells);
    Cells edited = kCells;
    edited[1].second = "y <- x x";
    CHECK(served_without_runtime(cache, "o", edited) == 1);
    // Same code below the edit, but reached through another step: not served from the old chain.
    Cells reordered{{"b", "y <- x"}, {"a", "x <- "}, {"c", "out y"}};
    CHECK(served_without_runtime(cache, "o", reordered) == 0);
}

TEST_CASE("replay chain: an entry replaced under the same key is not served") {
    MemoryCache cache;
    run_with_runtime(cache, "o", kCells);
    REQUIRE(cache.entries.size() == 3);
    for (auto& [digest, run] : cache.entries) {
        if (run.outputs.find("y(x())") != std::string::npos) run.outputs = "something else\n";
    }
    CHECK(served_without_runtime(cache, "o", kCells) == 2);
}

TEST_CASE("replay chain: a failed cell ends it") {
    MemoryCache cache;
    Cells failing{{"a", "x <- "}, {"b", "y <- nope"}, {"c", "z <- x"}};
    run_with_runtime(cache, "o", failing);
    CHECK(served_without_runtime(cache, "o", failing) == 1);
}

TEST_CASE("replay chain: a step's file inputs and stamps are checked") {
    CHECK(ReplayChain::stamp("/nonexistent/ripple/file") == "missing");
    CHECK(ReplayChain::stamp("/") != "missing");
}
