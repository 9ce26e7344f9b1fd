// announcement.cpp: the ran-first / reran / stale-now lines and the notices after a request.
// Pure C++: must not know about Jupyter, R or how the text is shown.
#include "dag/announcement.hpp"

#include <algorithm>
#include <set>

namespace ripple::dag {

namespace {

std::string join_names(const CellNamer& name, const std::vector<std::string>& ids) {
    std::string text;
    for (const auto& id : ids) text += (text.empty() ? "" : " ") + name(id);
    return text;
}

} // namespace

std::vector<Reason> root_causes(const Engine& engine, const ExecutionReport& report,
                                const std::vector<std::string>& ids) {
    std::set<std::string> changed, passed_on;
    for (const auto& id : ids) {
        if (auto found = report.reasons.find(id); found != report.reasons.end()) {
            changed.insert(found->second.begin(), found->second.end());
        }
        if (const Execution* execution = engine.last_execution(id)) {
            for (const auto& [symbol, value] : execution->outputs) passed_on.insert(symbol);
        }
    }
    // Ordered by how a user reads them (file data.csv, options(), x), as the rerun line always showed them.
    std::set<std::pair<std::string, std::string>> roots, all;
    for (const auto& symbol : changed) {
        all.emplace(subject_of(symbol), symbol);
        if (!passed_on.count(symbol)) roots.emplace(subject_of(symbol), symbol);
    }
    std::vector<Reason> reasons;
    for (const auto& [subject, symbol] : roots.empty() ? all : roots) reasons.push_back(Reason::changed_input(symbol));
    return reasons;
}

Announcement announce(const Engine& engine, const ExecutionReport& report) {
    Announcement said;
    const CellNamer name = engine.cell_namer();
    if (!report.ran_before.empty()) {
        said.text += "\u21bb ran first " + join_names(name, report.ran_before) + ": stale cells it reads from\n";
    }
    if (!report.reran_after.empty()) {
        std::string why = describe_all(root_causes(engine, report, report.reran_after), name);
        std::vector<std::string> cached;
        for (const auto& id : report.reran_after) {
            if (std::find(report.from_cache.begin(), report.from_cache.end(), id) != report.from_cache.end()) {
                cached.push_back(id);
            }
        }
        said.text += "\u21bb reran " + join_names(name, report.reran_after) + (why.empty() ? "" : ": " + why) +
                     (cached.empty() ? "" : " (" + join_names(name, cached) + " from the cache)") + "\n";
    }
    if (!report.marked_stale.empty()) {
        std::string why = describe_all(root_causes(engine, report, report.marked_stale), name);
        said.text += "\u26a0 stale now " + join_names(name, report.marked_stale) + (why.empty() ? "" : ": " + why) +
                     " (lazy mode: run them to update)\n";
        said.stale_note = "\u26a0 stale: " + (why.empty() ? std::string("its inputs changed") : why) +
                          " above; run this cell to update";
    }
    for (const auto& notice : report.notices) said.text += notice + "\n";
    return said;
}

} // namespace ripple::dag
