// reason.hpp: why a cell must run, is stale or cannot be cached, as data; and the one place that words it.
// Pure C++: must not know about R headers, Jupyter or sockets, nor how the engine found the reason.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

namespace ripple::dag {

// Each kind names the decision that records it (see engine.cpp's design note).
enum class ReasonKind {
    // Staleness (DependencyScan): why a cell that ran is not up to date.
    NeverRan,      // it has no execution
    CodeEdited,    // its code differs from the code that ran
    InputChanged,  // `symbol` (a name or a pseudo-symbol: options, directory, search path) has a new version
    FileChanged,   // `path`, a file it read, has other content on disk
    UpstreamStale, // `cell`, a cell it reads from, is stale itself (lazy mode)
    // A rerun the engine adds on its own (a notice).
    OpaqueRebuilt, // `cell` reran to rebuild `symbol`, an opaque value a later cell changed in place
    // Cacheability (the engine's cache policy, engine_cache.cpp): why a cell has no cache key.
    OptedOut,           // `#| cache: false`
    Volatile,           // reads the clock, the network, the file system, the environment
    ChangesPackages,    // attaches packages or changes the search path
    ChangesOptions,     // calls options()
    ChangesWorkdir,     // calls setwd()
    ChangesEnvironment, // calls Sys.setenv(), Sys.unsetenv() or Sys.setlocale()
    RemovesEverything,  // rm(list = ls())
    UnhashableRead,     // reads a value without content (an environment, a connection)
    ReachesOutside,     // `detail`: what its last run reached outside R (a socket, a program); cannot be made exact
    RewritesInput,      // `path`: its last run changed a file it had read (a read-modify-write)
    DoesNotParse,       // its code does not parse
    // Dry run (DryRun): why a cell would run rather than be served from the cache.
    ReadsRecomputed, // it reads `symbol`, which `cell` above would recompute
    KeyPartChanged,  // `detail`: one sentence from explain() over its last key and its key now
    NoMatchingEntry, // it ran with this cache before, but no entry matches its key now
    NotRunWithCache, // it never ran with this cache
};

struct Reason {
    ReasonKind kind = ReasonKind::NeverRan;
    std::string symbol; // InputChanged, OpaqueRebuilt, ReadsRecomputed
    std::string path;   // FileChanged
    std::string cell;   // UpstreamStale, OpaqueRebuilt, ReadsRecomputed: a cell id
    std::string detail; // KeyPartChanged: an already worded key difference

    explicit Reason(ReasonKind kind) : kind(kind) {}
    // A changed input as the engine keys it: a symbol, or kFilePrefix + path for a file.
    static Reason changed_input(const std::string& symbol);
    static Reason file_changed(const std::string& path);
    static Reason upstream_stale(const std::string& cell);
    static Reason opaque_rebuilt(const std::string& symbol, const std::string& cell);
    static Reason reads_recomputed(const std::string& symbol, const std::string& cell);
    static Reason key_part_changed(const std::string& sentence);
    // `what`: the runtime's words for each thing reached, joined ("a socket to 127.0.0.1:5432").
    static Reason reaches_outside(const std::vector<std::string>& what);
    static Reason rewrites_input(const std::string& path);
    bool operator==(const Reason&) const = default;
};

// Every kind, for tests that check each is worded the same wherever it appears.
const std::vector<ReasonKind>& all_reason_kinds();

// How a cell is named in a sentence ("[x <- 1]"): Engine::label inside brackets.
using CellNamer = std::function<std::string(const std::string& cell_id)>;

// A symbol as a user reads it: "options()", "the working directory", "the attached packages", "file data.csv", "x".
std::string subject_of(const std::string& symbol);

// The one wording of a reason, a clause without a final period: "x changed", "it opts out of the cache (cache: false)".
std::string describe(const Reason& reason, const CellNamer& name);

// Several reasons in one clause, as why and the rerun line show them: changed inputs share one "changed"
// ("x, file data.csv changed"), stale upstream cells one "it reads from stale"; the groups are joined by "; ".
std::string describe_all(const std::vector<Reason>& reasons, const CellNamer& name);

} // namespace ripple::dag
