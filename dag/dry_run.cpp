// dry_run.cpp: would-run reports and poisoned names during a dry run.
// Pure C++: must not know about R headers, Jupyter or sockets, nor how cache keys are made.
#include "dag/dry_run.hpp"

namespace ripple::dag {

void DryRun::start(PreviousKey previous_key) {
    previous_key_ = std::move(previous_key);
    poisoned_.clear();
    reported_.clear();
}

std::vector<Reason> DryRun::poisoned_reads(const std::set<std::string>& uses) const {
    std::vector<Reason> reasons;
    if (!active()) return reasons;
    for (const auto& symbol : uses) {
        if (auto source = poisoned_.find(symbol); source != poisoned_.end()) {
            reasons.push_back(Reason::reads_recomputed(symbol, source->second));
        }
    }
    return reasons;
}

void DryRun::would_run(const std::string& id, const std::vector<Reason>& reasons, const CellAnalysis& analysis,
                       const CellNamer& name, ExecutionReport& report) {
    if (reported_.insert(id).second) {
        std::vector<std::string> sentences;
        for (const auto& reason : reasons) sentences.push_back(describe(reason, name));
        report.would_run.emplace_back(id, std::move(sentences));
    }
    for (const auto& symbol : analysis.defs) poisoned_[symbol] = id;
    for (const auto& symbol : analysis.deletes) poisoned_[symbol] = id;
}

} // namespace ripple::dag
