// execution.hpp: the engine's records: what a cell's run read and produced (Execution), why a cell is stale
// (Staleness), the graph's edges and what a request did (ExecutionReport). Plain data, no behaviour.
// Pure C++: must not know about R headers, Jupyter or sockets.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dag/cell_runtime.hpp"
#include "dag/reason.hpp"

namespace ripple::dag {

enum class EngineMode { Reactive, Lazy };

// A symbol's version at a point of the document: the ValueId bound by its reaching definition,
// a token for names exported by an attached package (top bit set), or kUnbound.
using Version = std::uint64_t;

// What one cell execution produced and what it read: the basis of every staleness decision.
struct Execution {
    std::string code;
    std::set<std::string> uses;
    std::map<std::string, Version> inputs;    // version of each use when it ran
    std::map<std::string, ValueId> outputs;   // symbols it bound (kUnbound: removed)
    std::set<std::string> attached;           // packages it attached (their exports are soft definitions)
    std::map<std::string, std::string> files; // paths it read (named or seen opened) -> content hash then ("missing")
    std::set<std::string> files_written;      // paths it wrote or removed: it defines kFilePrefix + path
    std::vector<std::string> outside;         // what it reached outside R (sockets, programs): never cached
    std::string rewritten_input;              // a file it read and then changed ("" none): never cached
    bool failed = false;
    std::uint64_t serial = 0; // order of executions, for display only
};

// Whether a cell is stale, and why: the flags and sets for callers that test them, `reasons` for words.
struct Staleness {
    bool stale = false;
    bool never_ran = false;
    bool edited = false;                  // code differs from what ran
    std::set<std::string> changed;        // uses whose reaching value changed (files as kFilePrefix + path)
    std::set<std::string> stale_upstream; // ids of stale cells it depends on
    std::vector<Reason> reasons;          // the same, recorded where each was found (worded by describe_all)
};

struct EdgeInfo {
    std::string from, to; // cell ids, from defines what to uses
    std::set<std::string> symbols;
};

struct ExecutionReport {
    bool requested_failed = false;
    bool interrupted = false;
    std::vector<std::string> ran_before;                  // upstream cells run first (stale or never run)
    std::vector<std::string> reran_after;                 // dependents rerun (reactive mode)
    std::vector<std::string> marked_stale;                // dependents left stale (lazy mode)
    std::map<std::string, std::set<std::string>> reasons; // cell id -> changed symbols
    std::vector<std::string> removed_cells;               // deleted by this request
    std::vector<std::string> notices;                     // one-line notices for the user (opaque state)
    std::vector<std::string> from_cache;                  // cells whose run was served by the cache (outputs replayed)
    // Dry run only: cells that would have to run, in order, each with why (one sentence per reason).
    std::vector<std::pair<std::string, std::vector<std::string>>> would_run;
};

} // namespace ripple::dag
