// run_planner.cpp: the upstream cells a request runs first, in document order.
// Pure C++: must not know about R headers, Jupyter or sockets; it runs nothing.
#include "dag/run_planner.hpp"

#include <map>
#include <set>

namespace ripple::dag {

std::vector<std::string> RunPlanner::upstream_of(const std::string& id) const {
    auto at = order_.position(id);
    if (!at) return {};
    // Every cell the requested one reads from, directly or through others.
    std::map<size_t, std::set<std::string>> upstream;
    std::vector<size_t> pending{*at};
    std::set<size_t> visited{*at};
    while (!pending.empty()) {
        size_t reader = pending.back();
        pending.pop_back();
        for (const auto& symbol : scan_.reads_of(reader)) {
            auto source = scan_.reaching_definition(reader, symbol);
            if (!source || visited.count(*source) || scan_.settled(*source)) continue;
            visited.insert(*source);
            upstream[*source] = scan_.reads_of(*source);
            pending.push_back(*source);
        }
    }
    // In document order: a cell must run if it is stale itself or reads from a cell that will run first
    // (lazy mode leaves whole chains stale: a <- 10 makes b stale directly and c through b).
    std::set<size_t> plan;
    for (const auto& [i, uses] : upstream) {
        bool runs = scan_.direct_staleness(i).stale;
        for (const auto& symbol : uses) {
            if (runs) break;
            auto source = scan_.reaching_definition(i, symbol);
            runs = source && plan.count(*source);
        }
        if (runs) plan.insert(i);
    }
    std::vector<std::string> ids;
    for (size_t i : plan) ids.push_back(order_.cells()[i].id);
    return ids;
}

} // namespace ripple::dag
