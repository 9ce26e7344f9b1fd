// replay_chain.hpp: a front door's way to serve a whole run from the cache without starting R. While every cell so
// far was served or is reproducible, the session's state is a function of where it started and of the steps taken.
// Pure C++: no R; the engine says which runs are steps, the store keeps them (CacheStore::replay_step).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dag/execution_cache.hpp"
#include "dag/file_digests.hpp"

namespace ripple::dag {

// How one cell's run follows from the session state before it, and what outside the session it depended on.
// The engine makes one for a run it served from the cache or stored in it (an entry step), or for a run it cannot
// cache but that is a function of the state and the installed packages, such as library() or options() (a
// recorded step, which carries its outputs).
struct ReplayStep {
    std::string entry_key;                    // the cache key digest the run was found or stored under; "" if recorded
    std::string entry_identity;               // execution_identity() of that entry (a later run may replace it)
    std::string outputs;                      // recorded step: its outputs as replayable events (JSON)
    std::map<std::string, std::string> files; // file inputs (paths as the cell wrote them) -> content hash or "missing"
    std::set<std::string> packages;           // packages it read or attached (their installed files must not change)
    std::vector<std::string> stamped_paths;   // the installed files and library folders standing for those packages
};

// Names an entry's content (its full key incl. what the run found it read, its values, its outputs), so a step
// never serves an entry that another run has since replaced under the same key.
std::string execution_identity(const CachedRun& run);

// The chain of steps from a run's starting point, which a front door describes without R (rbridge::session_origin). One chain per run; the cells must be given in the order they run.
class ReplayChain {
public:
    // `origin`: a description of the session's starting point (rbridge::session_origin); "" means unknown.
    ReplayChain(ExecutionCache& cache, const std::string& origin);

    // False once a cell could not be served or recorded as a step: from there on the state is not known without R.
    bool intact() const { return intact_; }
    // Without R: the outputs (JSON events) of the cell's next step from the current state, if one is known and
    // everything it depended on is unchanged (file contents, package files) and its entry is still the one it
    // names. On success the chain moves past the cell; on nullopt nothing changes (the caller may start R).
    struct Served {
        std::string outputs; // JSON events, as the runtime records them
        bool from_entry;     // from a cache entry (a restarted engine serves it too); else the step's own outputs
        bool binds_nothing;  // from an entry that bound and removed no name: the session is the same after it
    };
    std::optional<Served> advance(const std::string& code, const std::map<std::string, std::string>& options);
    // After the engine ran (or served) the same cell with R: remember its step from the current state and move past
    // it; nullopt (not a step) breaks the chain.
    void extend(const std::string& code, const std::map<std::string, std::string>& options,
                const std::optional<ReplayStep>& step);
    // Something the chain cannot follow changed the session (code run outside the cells).
    void stop() { intact_ = false; }

    // dev:inode:size:mtime of a file or folder ("missing"): what a step records and checks for package files.
    static std::string stamp(const std::string& path);

private:
    static std::string request_digest(const std::string& code, const std::map<std::string, std::string>& options);
    void move(const std::string& request, const std::string& step_identity);

    ExecutionCache& cache_;
    std::string state_;
    bool intact_ = true;
    FileDigests files_;
};

} // namespace ripple::dag
