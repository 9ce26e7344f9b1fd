// global_state.hpp: the R global state as the engine sees it: static cell analysis, values held by handle,
// restoring bindings/options/working directory/search path, and what running a cell changed. No dag/ or Jupyter.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "background_write.hpp"

namespace ripple::rbridge {

// A value kept alive on the engine's behalf. Handles are never reused; 0 means "unbound".
using ValueHandle = std::uint64_t;

// Session state that is not a variable, tracked like one (names shared with the engine's pseudo-symbols).
inline const char* const kOptionsState = "@options"; // options()
inline const char* const kWorkdirState = "@wd";      // getwd()
inline const char* const kSearchState = "@search";   // search()
inline const char* const kEnvState = "@env";         // Sys.getenv() and Sys.getlocale()

struct StaticAnalysis {
    bool parsed = true;
    std::set<std::string> defs, uses, deletes, attaches, files, effects;
    bool deletes_all = false;
    bool is_volatile = false;
    std::string fingerprint; // only when asked for: tokens without comments or layout
};

struct StateChange {
    std::map<std::string, ValueHandle> bound; // new or rebound (new object identity), incl. pseudo-state
    std::set<std::string> passed_through;     // watched names still bound to the same object
    std::set<std::string> removed;            // bindings that disappeared
    std::set<std::string> attached_packages;  // "MASS" for a new "package:MASS" on the search path
};

class GlobalState {
public:
    // Captures the session's baseline (options, working directory, search path) at construction.
    GlobalState();
    ~GlobalState();
    GlobalState(const GlobalState&) = delete;
    GlobalState& operator=(const GlobalState&) = delete;

    StaticAnalysis analyze(const std::string& code, bool with_fingerprint = false);
    std::set<std::string> closure_uses(const std::set<std::string>& names);
    std::set<std::string> package_exports(const std::string& package);

    // Binds every name of `tracked` to its value in `state`, or removes it (pseudo-state: baseline). With `changed`
    // (names whose value in `state` may differ from the last restore's), only those and the names runs and bind()
    // changed since are looked at, unless the global environment may have changed unseen (forget_environment()).
    void restore(const std::map<std::string, ValueHandle>& state, const std::set<std::string>& tracked,
                 const std::set<std::string>* changed = nullptr);
    // Binds each name of `values` (a served run's results) and leaves every other binding alone.
    void bind(const std::map<std::string, ValueHandle>& values);
    // R code ran outside a watch, or a held value's object changed: the next restore looks at every name.
    void forget_environment();
    // The packages on search path `after` that `before` lacks ("MASS" for "package:MASS"); 0 is the baseline.
    std::set<std::string> attached_between(ValueHandle before, ValueHandle after);

    // Call around a cell's evaluation: begin_watch snapshots object identities, end_watch reports changes.
    void begin_watch();
    StateChange end_watch(const std::set<std::string>& watched_names);

    // --- for the content-hash cache -----------------------------------------------------------------
    // The key's environment part: R major.minor, attached packages -> version, output options, locale.
    struct KeyFacts {
        std::string r_version;
        std::map<std::string, std::string> packages;
        std::map<std::string, std::string> output_options;
        std::string locale;
    };
    KeyFacts key_facts();
    std::string package_version(const std::string& package);
    // Each package's DESCRIPTION file and the library folders (.libPaths()); nullopt if R could not say.
    std::optional<std::vector<std::string>> package_files(const std::set<std::string>& packages);
    std::string rng_kind();
    // Content hash of a held value (computed once, then remembered); nullopt for opaque values.
    std::optional<std::string> value_hash(ValueHandle value);
    // The value's serialized bytes, and a new handle for a value rebuilt from them (0 on failure) that
    // remembers `hash` as its content hash.
    std::optional<std::string> serialize(ValueHandle value);
    ValueHandle unserialize(const std::string& bytes, const std::string& hash);
    bool is_opaque(ValueHandle value) const;

    // --- for the value store (dag/value_store.hpp decides what stays in memory) -----------------------------------
    // Roughly how much memory the value takes (vectors by length, lists summed; ALTREP and strings' own bytes not
    // counted); nullopt for an opaque or evicted value.
    std::optional<std::uint64_t> value_bytes(ValueHandle value);
    // The value's hash is `identity` from now on (derived from the run that made it), so it is never content-hashed.
    void set_identity(ValueHandle value, const std::string& identity);
    bool hash_known(ValueHandle value) const;
    // Drops the object (R may free it once nothing else refers to it), keeping the handle and its hash. False for an
    // opaque value or one without a known hash.
    bool evict(ValueHandle value);
    bool resident(ValueHandle value) const;
    // Brings an evicted value back: from serialized bytes, or by taking `from`'s object (released).
    bool refill(ValueHandle value, std::string_view bytes, bool mapped = false);
    bool adopt(ValueHandle into, ValueHandle from);
    // A handle for a value not loaded yet: restore() binds a promise that loads it (through the loader) when R reads
    // it; evicted values are bound the same way. `identity` is its hash.
    ValueHandle hold_lazy(const std::string& identity);
    // Where the bytes of an evicted or lazy value come from (nullopt: they cannot be had; reading it is an R error).
    struct LoadedBytes {
        std::shared_ptr<const void> owner; // keeps `bytes` valid
        std::string_view bytes;
        bool mapped = false; // a file mapping (see value_hash.hpp)
    };
    using ValueLoader = std::function<std::optional<LoadedBytes>(ValueHandle)>;
    void set_loader(ValueLoader loader);
    // The promise's side: the object, loaded now if need be (nullptr: it cannot be had).
    SEXP load_for_promise(ValueHandle value);
    // Writes the value's bytes to `path` in a forked child (nullopt: could not fork; the value is untouched).
    std::optional<BackgroundWrite> write_in_background(ValueHandle value, const std::string& path);

    ValueHandle rehold(ValueHandle value);
    void release(ValueHandle value);
    std::size_t held_values() const;

private:
    void restore_session_state(const std::map<std::string, ValueHandle>& state, const std::set<std::string>& tracked);
    void restore_every_binding(const std::map<std::string, ValueHandle>& state, const std::set<std::string>& tracked);
    void restore_binding(SEXP symbol, const ValueHandle* wanted);

    struct Store;
    std::unique_ptr<Store> store_;
};

// The native routine behind the promises of lazy values (registered as "ripple_load_value" by r_session.cpp).
extern "C" SEXP ripple_native_load_value(SEXP handle);

} // namespace ripple::rbridge
