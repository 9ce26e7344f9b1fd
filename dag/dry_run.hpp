// dry_run.hpp: the state of a dry run (`run-notebook why`): nothing runs; each cell that would run is reported
// once, with its reasons, and poisons the names it would recompute for the cells below.
// Pure C++: must not know about R headers, Jupyter or sockets, nor how cache keys are made.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dag/cache_key.hpp"
#include "dag/cell_runtime.hpp"
#include "dag/execution.hpp"
#include "dag/reason.hpp"

namespace ripple::dag {

class DryRun {
public:
    // The key of a cell's last run, to say which parts changed (nullopt: it has not run with this cache).
    using PreviousKey = std::function<std::optional<CacheKey>(const std::string& id)>;

    // Starts a dry run (an empty function ends it) with nothing reported or poisoned yet.
    void start(PreviousKey previous_key);
    bool active() const { return static_cast<bool>(previous_key_); }
    std::optional<CacheKey> previous_key(const std::string& id) const { return previous_key_(id); }

    // The reads of names a cell above would recompute: its key cannot be known, so it would run too.
    std::vector<Reason> poisoned_reads(const std::set<std::string>& uses) const;
    // Reports the cell as would-run (once: a later request plans it again as a stale upstream cell) and
    // poisons what it defines or deletes.
    void would_run(const std::string& id, const std::vector<Reason>& reasons, const CellAnalysis& analysis,
                   const CellNamer& name, ExecutionReport& report);

    // `symbol` (a file the cell last wrote) would be recomputed by `id`.
    void poison(const std::string& symbol, const std::string& id) { poisoned_[symbol] = id; }

private:
    PreviousKey previous_key_;
    std::map<std::string, std::string> poisoned_; // symbol -> id of the cell that would recompute it
    std::set<std::string> reported_;              // cells already reported as would-run
};

} // namespace ripple::dag
