// dependency_scan.hpp: the one place that decides what a cell reads and whether it is stale (ninja's DependencyScan):
// reaching definitions over document order, symbol versions, and a Reason recorded for each staleness found.
// Pure C++: must not know about R headers, Jupyter or sockets; it runs nothing (it asks the runtime for exports only).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "dag/cell_runtime.hpp"
#include "dag/execution.hpp"
#include "dag/file_digests.hpp"
#include "dag/notebook_order.hpp"

namespace ripple::dag {

// The Version of names exported by an attached package: it depends only on the package, so rerunning
// library(pkg) does not invalidate its users, while removing the attaching cell does. Top bit set.
Version package_token(const std::string& package);

// What every cell reads: printing depends on options(), file access on the working directory.
const std::set<std::string>& implicit_reads();

class DependencyScan {
public:
    // Reads the engine's records; holds them by reference (the engine owns them and outlives the scan).
    DependencyScan(const NotebookOrder& order, const std::unordered_map<std::string, Execution>& executions,
                   const std::map<std::string, CellAnalysis>& analyses, CellRuntime& runtime)
            : order_(order), executions_(executions), analyses_(analyses), runtime_(runtime) {}

    const Execution* last_execution(const std::string& id) const;
    const std::set<std::string>& exports_of(const std::string& package) const;
    // The file's content hash now; nullopt when it is missing or unreadable (relative paths: the process's
    // working directory, which is R's).
    std::optional<std::string> file_digest(const std::string& path) const;

    // The global state a fresh top-to-bottom run would have before `position`: symbol -> value. state_at shares it
    // (never changed once returned), so that a request in a long notebook copies no map of every global.
    using State = std::map<std::string, ValueId>;
    std::shared_ptr<const State> state_at(size_t position) const;
    State state_before(size_t position) const { return *state_at(position); }
    // Where state_at's memo stands, taken after a state_at call, for asking later what changed since.
    struct StateMark {
        std::uint64_t generation = 0; // the memo's recomputations
        size_t changes = 0;           // names logged as the memo was extended
    };
    StateMark state_mark() const { return {state_memo_.generation, state_memo_.changed.size()}; }
    // The symbols whose value may differ between the state state_at returned when `mark` was taken and the one it
    // returned last: those the cells in between bound or removed. nullopt when the memo was recomputed since
    // (anything may differ). What lets a restore in a long notebook touch only what changed (issue 15).
    std::optional<std::set<std::string>> changed_since(const StateMark& mark) const;
    Version version_before(size_t position, const std::string& symbol) const;
    std::optional<size_t> reaching_definition(size_t position, const std::string& symbol) const;
    // The package whose export `symbol` is before `position` (nullopt: a cell binds it, or no package does).
    std::optional<std::string> package_exporting(size_t position, const std::string& symbol) const;
    // What the cell reads: its parse's uses and, if it ran, what its run read.
    std::set<std::string> reads_of(size_t position) const;

    // The cell's own staleness (never ran, edited, an input's version or a file changed), with `version_of`
    // giving the version of each input before it (by default version_before).
    using VersionOf = std::function<Version(const std::string& symbol)>;
    Staleness direct_staleness(size_t position) const;
    Staleness direct_staleness(size_t position, const VersionOf& version_of) const;
    // direct_staleness, and stale through the stale cells it reads from (lazy mode leaves them stale).
    Staleness staleness(size_t position) const;
    // Lazy mode while marking: the cell reads from a cell just left stale (listed in `stale_ids`), so it
    // would see new values once that one runs: each such read is a changed input.
    void add_reads_from_stale(size_t position, const std::vector<std::string>& stale_ids, Staleness& staleness) const;

    std::vector<EdgeInfo> edges() const;

    // The cell ran, its code is what ran, nothing it read changed and every cell it reads from is settled too: no
    // planning needs to look at it or above it through it. Remembered for the cells above the first position whose
    // record changed (a cell's staleness depends only on the cells above it); a cell that read files is never
    // settled, as a file changes without any record changing.
    bool settled(size_t position) const;

    // The engine keeps a new execution of cell `id` (added or replacing one): the index below is rebuilt from its
    // position on. (Cells added, removed, moved or edited, and analyses added, are noticed without this.)
    void executed(const std::string& id) { index_.executed.push_back(id); }
    // Something changed that the scan cannot place: the index below is rebuilt by comparing every position.
    void invalidate() { index_.valid = false; }

private:
    // Who defines and binds what, by position, built once per change of the document or of the records, so that
    // reaching definitions and versions are binary searches, not scans up the document: planning a request in a
    // 400-cell chain scanned 400 cells per input of each of 400 cells (60 ms; issue 15).
    //
    // Bringing it up to date costs what changed, not the notebook (issue 15: a 1000-cell chain ran at 2.4 ms a cell):
    // the first position that may hold something else is found from the order's change log, the executions the
    // engine says it kept (`executed`) and the few positions whose code had no analysis yet; the entries of the
    // cells above it are kept and those from it on rebuilt. Only invalidate() or a change nobody announced
    // (executions added or removed, analyses forgotten) costs a comparison of every position's stamp.
    struct Index {
        bool valid = false;
        std::uint64_t order_revision = 0;
        size_t executions = 0, analyses = 0;
        std::vector<std::string> executed;                                    // ids executed since; see executed()
        std::map<std::string, std::vector<size_t>> definers;                  // cells that bind s: last run, else parse
        std::vector<std::pair<size_t, std::string>> defining_attaches;        // (i, package) the same way
        std::map<std::string, std::vector<std::pair<size_t, Version>>> bound; // last executions' outputs
        std::vector<std::pair<size_t, std::string>> executed_attaches;        // packages they attached
        // The lists of `definers` and `bound` each position added to (map nodes are stable; an emptied list stays),
        // so that dropping the positions from a change on touches only those lists.
        std::vector<std::vector<std::vector<size_t>*>> definer_lists;
        std::vector<std::vector<std::vector<std::pair<size_t, Version>>*>> bound_lists;
        // What each position held when the index was last brought up to date: its entries are those of the cells
        // above the first position whose stamp differs, which are kept, and the rest, rebuilt.
        struct Stamp {
            std::size_t id_hash, code_hash;
            std::uint64_t serial; // of its last execution; 0: none
            bool analyzed;
            bool operator==(const Stamp&) const = default;
        };
        std::vector<Stamp> stamps;
        std::vector<size_t> unanalyzed; // ascending positions whose stamp has analyzed == false
    };
    const Index& index() const;
    // The first position whose stamp may differ from index_'s (cells().size(): none).
    size_t first_changed() const;
    // The latest of `attaches` before `position` and after `after` (when given) whose package exports `symbol`.
    const std::pair<size_t, std::string>* attach_exporting(const std::vector<std::pair<size_t, std::string>>& attaches,
                                                           size_t position, std::optional<size_t> after,
                                                           const std::string& symbol) const;

    const NotebookOrder& order_;
    const std::unordered_map<std::string, Execution>& executions_;
    const std::map<std::string, CellAnalysis>& analyses_;
    CellRuntime& runtime_;
    mutable std::map<std::string, std::set<std::string>> exports_; // by package: a cache of the runtime's answer
    mutable FileDigests file_digests_;                             // files cells read: a cache of their hashes
    mutable Index index_;
    // state_before(position) as last computed: extended downwards by the cells in between, recomputed when a change
    // reaches above its position.
    struct StateMemo {
        bool valid = false;
        size_t position = 0;
        std::shared_ptr<State> state;     // copied before it is extended while someone else holds it
        std::uint64_t generation = 0;     // incremented each time the state is recomputed from the top
        std::vector<std::string> changed; // symbols bound or removed as the state was extended, since then
    };
    mutable StateMemo state_memo_;
    mutable std::vector<char> settled_; // settled(i) for the first positions, recomputed from where records changed
};

} // namespace ripple::dag
