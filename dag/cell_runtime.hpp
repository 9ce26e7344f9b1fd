// cell_runtime.hpp: the one interface through which the engine reaches a language runtime (R).
// Pure C++: must not know about R headers, Jupyter or sockets; kernel/ implements it over rbridge, tests fake it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dag/cache_key.hpp"
#include "dag/shared_bytes.hpp"

namespace ripple::dag {

// A value held alive by the runtime on the engine's behalf (an R object reference). Ids are never
// reused, so comparing two ids says whether two bindings are the same object. 0 means "unbound".
using ValueId = std::uint64_t;
inline constexpr ValueId kUnbound = 0;

// Pseudo-symbols: session state that is not a variable but that cells read and change like one.
inline const std::string kOptionsSymbol = "@options"; // options()
inline const std::string kWorkdirSymbol = "@wd";      // getwd()
inline const std::string kSearchSymbol = "@search";   // search(): attached packages
inline const std::string kEnvSymbol = "@env";         // Sys.getenv() and the locale
// Every global binding at once, read by ls(), get(name), eval() of computed code (analysis effect "globals"): its
// version is a digest of the names bound before the cell and their versions. Never bound by a cell.
inline const std::string kGlobalsSymbol = "@globals";
inline const std::string kSeedSymbol = ".Random.seed";
// A file a cell reads, as a staleness reason: "@file:data.csv" changed.
inline const std::string kFilePrefix = "@file:";

// What the runtime's parser says about a cell's code before it runs (SPEC section 3, static part).
struct CellAnalysis {
    bool parsed = true;
    std::set<std::string> defs;     // global symbols the cell binds
    std::set<std::string> uses;     // free symbols read before being bound
    std::set<std::string> deletes;  // rm(x)
    bool deletes_all = false;       // rm(list = ls())
    std::set<std::string> attaches; // library(pkg)
    std::set<std::string> files;    // literal paths read
    std::set<std::string> effects;  // "options", "wd", "rng", "search", ...
    bool is_volatile = false;       // clock, network, file system queries
    std::string fingerprint;        // the code's tokens without comments or layout ("" if unknown)
};

// Which cell a run belongs to, so the runtime (the front end's side of it) can route the outputs.
struct RunContext {
    std::string cell_id;    // empty for an anonymous request
    bool requested = false; // the cell the user asked to run (outputs stream live to it)
    int execution_count = 0;
    bool record_outputs = false; // keep the outputs as data (RunOutcome::recorded_outputs) for the cache
};

// What running a cell changed in the global state (SPEC section 3, dynamic part).
struct RunOutcome {
    bool failed = false;
    bool interrupted = false;
    std::map<std::string, ValueId> bound; // symbols added or rebound (new object identity)
    // Static definitions still bound to the very object they had before the run (the cell failed before
    // binding them, or bound them to themselves): the engine records them as reads, not definitions.
    std::set<std::string> passed_through;
    std::set<std::string> removed;           // symbols that no longer exist
    std::set<std::string> attached_packages; // packages the run put on the search path
    std::string recorded_outputs;            // the run's outputs as replayable data (JSON), when recorded
    // What the run touched outside R, as the runtime saw it happen (SPEC 3): paths relative to the working
    // directory when under it. A written file defines kFilePrefix + path; what is `outside` (sockets, programs)
    // cannot be made exact (SPEC 4), in words: "a socket to 127.0.0.1:5432", "the program `dot -Tsvg`".
    std::set<std::string> files_read;
    std::set<std::string> files_written;
    std::set<std::string> files_appended; // only appended to (a log): an edge in the session, not a cache condition
    std::vector<std::string> outside;
};

class CellRuntime {
public:
    virtual ~CellRuntime() = default;

    virtual CellAnalysis analyze(const std::string& code) = 0;
    // Free globals read by those of `names` that are functions defined in the global state (and by the
    // functions they call), evaluated in the current state: a call site's hidden uses.
    virtual std::set<std::string> closure_uses(const std::set<std::string>& names) = 0;
    virtual std::set<std::string> package_exports(const std::string& package) = 0;
    // Makes the global state hold exactly `state` for every symbol in `tracked`: a symbol in the map is
    // bound to that value, one missing from it is removed (pseudo-symbols go back to the session's
    // baseline). Symbols outside `tracked` are left alone. `changed`, when given, names the symbols whose value in
    // `state` may differ from the state of the last restore(): the runtime adds those runs and bind() changed since
    // and, when it knows nothing else touched the global state, looks at no other symbol. nullptr: any may differ.
    virtual void restore(const std::map<std::string, ValueId>& state, const std::set<std::string>& tracked,
                         const std::set<std::string>* changed) = 0;
    // Binds each symbol of `values` to its value and leaves every other binding alone (a served run's results).
    virtual void bind(const std::map<std::string, ValueId>& values) = 0;
    // Runs code at top level. `bound` lists the symbols whose binding changed identity; `passed_through`
    // those of `report_bindings` (the cell's static definitions) bound afterwards to an unchanged object.
    virtual RunOutcome run(const std::string& code, const RunContext& context,
                           const std::set<std::string>& report_bindings) = 0;
    // True for values that cannot be snapshotted (environments, external pointers, reference objects):
    // running code can change them in place without changing their identity.
    virtual bool is_opaque(ValueId value) = 0;
    // The packages that search path value `after` (the @search pseudo-symbol) attaches beyond `before` (kUnbound: the
    // session's baseline): what serving a cached library() call attached.
    virtual std::set<std::string> attached_between(ValueId /*before*/, ValueId /*after*/) { return {}; }
    // A fresh id for the same object (a cell that touched an opaque value "redefines" it).
    virtual ValueId rehold(ValueId value) = 0;
    virtual void release(ValueId value) = 0;

    // --- What the content-hash cache needs (SPEC section 5). A runtime without these never caches. ---
    // SHA-256 of a held value's content; nullopt when it has none (opaque values, failures).
    virtual std::optional<std::string> value_hash(ValueId) { return std::nullopt; }
    // The value's bytes for the store, and a held value rebuilt from them (kUnbound on failure). The
    // hash is the one the bytes were stored under: the rebuilt value keeps it without rehashing.
    virtual std::optional<std::string> serialize_value(ValueId) { return std::nullopt; }
    virtual ValueId unserialize_value(const std::string& /*bytes*/, const std::string& /*hash*/) { return kUnbound; }
    // Sends recorded outputs to the front end as if the cell had just produced them; false if they are damaged.
    virtual bool replay(const std::string& /*recorded_outputs*/, const RunContext&) { return false; }
    // R version, attached packages, output options, locale: the key's environment part.
    virtual std::optional<KeyEnvironment> key_environment() { return std::nullopt; }
    virtual std::string package_version(const std::string& /*package*/) { return std::string(); }
    // Installed files that stand for `packages` (each one's DESCRIPTION) and the library folders searched for
    // packages: a replay step checks their stamps. nullopt when the runtime cannot say (then no replay steps).
    virtual std::optional<std::vector<std::string>> package_files(const std::set<std::string>& /*packages*/) {
        return std::nullopt;
    }
    // RNG kind and the hash of the current .Random.seed ("" when there is none yet).
    virtual std::pair<std::string, std::string> rng_state() { return {}; }

    // --- What the value store needs (dag/value_store.hpp). A runtime without these keeps every value in memory. ---
    // Roughly how much memory a held value takes; nullopt when unknown (opaque, evicted).
    virtual std::optional<std::uint64_t> value_bytes(ValueId) { return std::nullopt; }
    // From now on value_hash() answers `identity` (derived from the run that made the value), never hashing content.
    virtual void set_value_identity(ValueId, const std::string& /*identity*/) {}
    // True when value_hash() would answer without hashing.
    virtual bool value_hash_known(ValueId) { return false; }
    // Drops the object, keeping the id and its hash (false: it cannot); refill or adopt bring an object back.
    virtual bool evict(ValueId) { return false; }
    virtual bool resident(ValueId) { return true; }
    virtual bool refill(ValueId, const SharedBytes& /*bytes*/) { return false; }
    // A value not loaded yet, known by `identity` (its hash): restore() binds it so that R loads it, through the
    // loader, when something reads it (kUnbound: not supported, load it now).
    virtual ValueId hold_lazy(const std::string& /*identity*/) { return kUnbound; }
    virtual void set_value_loader(std::function<std::optional<SharedBytes>(ValueId)> /*loader*/) {}
    // Returns the memory of released objects now (R's full garbage collection), after large values left.
    virtual void collect_garbage() {}
    // `into` (evicted) takes `from`'s object, and `from` is released.
    virtual bool adopt(ValueId /*into*/, ValueId /*from*/) { return false; }
    // Writes the value's serialized bytes to `path` behind the caller's back (a forked child); a ticket for
    // poll_value_write, or nullopt when it cannot (the caller stores in the foreground).
    virtual std::optional<std::uint64_t> start_value_write(ValueId, const std::string& /*path*/) {
        return std::nullopt;
    }
    struct ValueWrite {
        bool ok = false;
        std::string hash; // SHA-256 of the bytes written (what value_hash would compute)
        std::uint64_t bytes = 0;
        std::string error; // why it failed, in words
    };
    // The outcome once the write has finished (nullopt: still writing); `wait` blocks until it has.
    virtual std::optional<ValueWrite> poll_value_write(std::uint64_t /*ticket*/, bool /*wait*/) {
        return ValueWrite{false, "", 0, "not supported"};
    }
};

} // namespace ripple::dag
