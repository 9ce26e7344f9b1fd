// replay_step_recorder.hpp: notes, for a front door that may serve a later run without R, whether each cell's last
// run was a replay step (dag/replay_chain.hpp): served or stored by the cache, or reproducible and recorded.
// Pure C++: must not know about R headers, Jupyter or sockets, nor how cache keys are made.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

#include "dag/cache_key.hpp"
#include "dag/cell_runtime.hpp"
#include "dag/replay_chain.hpp"

namespace ripple::dag {

class ReplayStepRecorder {
public:
    void set_on(bool on) { on_ = on; }
    bool on() const { return on_; }

    // A run the cache cannot keep that is still a function of the session state, the files it reads and the
    // installed packages, so a replay step may carry its outputs: library(), options(), attach(). Not volatile,
    // not opted out, no random numbers, no working directory change (file inputs are checked relative to it).
    static bool may_record(const std::string& code, const CellAnalysis& analysis);
    // The packages a key reads: attached ones and those exporting a name it uses.
    static std::set<std::string> packages_in(const CacheKey& key);

    // The cell runs again: its last step no longer stands.
    void forget(const std::string& id) { steps_.erase(id); }
    // The cache entry just served (its identity goes into the step of the cell it served).
    void served(const CachedRun& entry);
    const std::string& served_identity() const { return served_identity_; }
    // The cell's run was served or stored under `key` as the entry `identity`.
    void keep_cached(const std::string& id, const CacheKey& key, const std::string& identity,
                     const std::map<std::string, std::string>& files);
    // The cell's run was recorded (not cached) as `step`.
    void keep_recorded(const std::string& id, ReplayStep step, const std::map<std::string, std::string>& files);

    // The step of the cell's last run with the package files it depends on (asks the runtime); nullopt if that
    // run was not one.
    std::optional<ReplayStep> step(const std::string& id, CellRuntime& runtime) const;

private:
    bool on_ = false;
    std::map<std::string, ReplayStep> steps_; // by cell id: its last run as a replay step
    std::string served_identity_;             // execution_identity() of the entry just served
};

} // namespace ripple::dag
