// run_planner.hpp: which cells a request runs before the requested one (ninja's Plan): the stale cells it reads
// from, directly or through others, in document order. Decides nothing about staleness itself: DependencyScan does.
// Pure C++: must not know about R headers, Jupyter or sockets; it runs nothing.
#pragma once

#include <string>
#include <vector>

#include "dag/dependency_scan.hpp"
#include "dag/notebook_order.hpp"

namespace ripple::dag {

class RunPlanner {
public:
    RunPlanner(const NotebookOrder& order, const DependencyScan& scan) : order_(order), scan_(scan) {}

    // The ids of the cells to run before `id`, in document order: each cell `id` reads from (directly or
    // through others) that is stale itself or reads from a cell that runs first.
    std::vector<std::string> upstream_of(const std::string& id) const;

private:
    const NotebookOrder& order_;
    const DependencyScan& scan_;
};

} // namespace ripple::dag
