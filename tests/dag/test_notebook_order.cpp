// test_notebook_order.cpp: unit tests of dag::NotebookOrder (document order without a front end's help).
// Pure C++: no R, no Jupyter.
#include <doctest/doctest.h>

#include "dag/notebook_order.hpp"

using ripple::dag::Cell;
using ripple::dag::CellRequest;
using ripple::dag::NotebookOrder;

namespace {
std::vector<std::string> ids(const NotebookOrder& order) {
    std::vector<std::string> out;
    for (const auto& c : order.cells()) out.push_back(c.id);
    return out;
}
} // namespace

TEST_CASE("new cells go after the cell executed before them") {
    NotebookOrder order;
    order.record({"x <- 1", "a", {}});
    order.record({"y <- x", "b", {}});
    order.record({"z <- y", "c", {}});
    CHECK(ids(order) == std::vector<std::string>{"a", "b", "c"});
    // The user goes back up to a and inserts a new cell below it.
    order.record({"x <- 2", "a", {}});
    order.record({"w <- x", "d", {}});
    CHECK(ids(order) == std::vector<std::string>{"a", "d", "b", "c"});
    CHECK(order.cells()[0].code == "x <- 2");
}

TEST_CASE("deleted cells leave the order; anonymous requests are not tracked") {
    NotebookOrder order;
    order.record({"1", "a", {}});
    order.record({"2", "b", {}});
    auto removed = order.record({"3", std::nullopt, {"a", "nope"}});
    CHECK(removed == std::vector<std::string>{"a"});
    CHECK(ids(order) == std::vector<std::string>{"b"});
    CHECK(order.last_executed() == std::optional<std::string>("b"));
}

TEST_CASE("a front end's order replaces the kernel's view wholesale") {
    NotebookOrder order;
    order.record({"1", "a", {}});
    order.record({"2", "b", {}});
    order.replace_all({Cell{"c", "3"}, Cell{"b", "2"}});
    CHECK(ids(order) == std::vector<std::string>{"c", "b"});
    CHECK(order.last_executed() == std::optional<std::string>("b")); // b is still in the notebook
    order.record({"4", "d", {}});
    CHECK(ids(order) == std::vector<std::string>{"c", "b", "d"});
    order.replace_all({Cell{"c", "3"}});
    CHECK_FALSE(order.last_executed().has_value()); // b is gone, so is its anchor
}
