// global_state.cpp: values held by handle (immutable snapshots), identity diff of the global environment,
// restoring bindings and pseudo-state through the ripple R package. No dag/ or Jupyter.
#include "global_state.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <clocale>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "r_values.hpp"
#include "value_hash.hpp"

#include <R_ext/Parse.h>

namespace ripple::rbridge {

namespace {

std::set<std::string> string_set(SEXP value) {
    std::vector<std::string> items = as_strings(value);
    return {items.begin(), items.end()};
}

SEXP make_strings(const std::set<std::string>& items) {
    SEXP out = Rf_allocVector(STRSXP, static_cast<R_xlen_t>(items.size()));
    R_xlen_t i = 0;
    for (const auto& item : items) SET_STRING_ELT(out, i++, Rf_mkCharCE(item.c_str(), CE_UTF8));
    return out;
}

// The binding of `name` in the global environment without forcing promises or calling active bindings.
SEXP global_binding(SEXP symbol) {
    // R_BindingIsActive raises an R error (a longjmp) for a missing binding: ask first.
    if (!R_existsVarInFrame(R_GlobalEnv, symbol) || R_BindingIsActive(symbol, R_GlobalEnv)) return nullptr;
    SEXP value = Rf_findVarInFrame(R_GlobalEnv, symbol);
    return value == R_UnboundValue ? nullptr : value;
}

SEXP call_ripple(const char* function, const std::vector<SEXP>& args) {
    return call_guarded(ripple_function(function), args);
}

extern "C" char** environ;

// Environment variables and the locale, summed into one number that does not depend on the order of `environ`
// (restoring a snapshot may put the variables in another order): a change costs one R call, no change none.
std::uint64_t environment_digest() {
    auto fnv1a = [](const char* text) {
        std::uint64_t hash = 1469598103934665603ULL;
        for (const char* c = text; *c != '\0'; ++c) hash = (hash ^ static_cast<unsigned char>(*c)) * 1099511628211ULL;
        return hash;
    };
    std::uint64_t digest = 0;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) digest += fnv1a(*entry);
    if (const char* locale = std::setlocale(LC_ALL, nullptr)) digest ^= fnv1a(locale) * 31;
    return digest;
}

// Cheap probes of the pseudo-state, so that watching and restoring a cell costs no R-level call unless
// something changed. options() itself sorts ~70 names with the locale's collator on every call.

// R keeps options in the pairlist `.Options` and changes it in place: a snapshot copies its spine.
SEXP options_pairlist() { return Rf_findVarInFrame(R_BaseEnv, Rf_install(".Options")); }

// Options set by packages that the display machinery loaded (share/R/ripple/R/display.R), which are not
// user state. Asked of R only when two options lists differ at all.
std::set<std::string> display_option_names() {
    SEXP names = call_guarded(ripple_function(".display_option_names"), {});
    return names == nullptr ? std::set<std::string>{} : string_set(names);
}

bool same_value(SEXP a, SEXP b) { return a == b || R_compute_identical(a, b, 16); } // identical()'s defaults

// Same options (names and values), whatever their order in either list, leaving out `ignored` (the display
// machinery's own options). `a`, `b`: pairlists or named lists.
bool same_options(SEXP a, SEXP b) {
    if (TYPEOF(a) == LISTSXP && TYPEOF(b) == LISTSXP) {
        SEXP x = a, y = b;
        for (; x != R_NilValue && y != R_NilValue; x = CDR(x), y = CDR(y)) {
            if (TAG(x) != TAG(y) || !same_value(CAR(x), CAR(y))) break;
        }
        if (x == R_NilValue && y == R_NilValue) return true;
    }
    const std::set<std::string> ignored = display_option_names();
    auto user_option = [&](const char* name) { return ignored.count(name) == 0; };
    auto entries = [&](SEXP list) {
        std::map<std::string, SEXP> out;
        if (TYPEOF(list) == LISTSXP) {
            for (SEXP x = list; x != R_NilValue; x = CDR(x)) {
                if (TAG(x) != R_NilValue && user_option(CHAR(PRINTNAME(TAG(x))))) out[CHAR(PRINTNAME(TAG(x)))] = CAR(x);
            }
        } else if (TYPEOF(list) == VECSXP) {
            SEXP names = Rf_getAttrib(list, R_NamesSymbol);
            for (R_xlen_t i = 0; names != R_NilValue && i < Rf_xlength(list); ++i) {
                if (user_option(CHAR(STRING_ELT(names, i)))) out[CHAR(STRING_ELT(names, i))] = VECTOR_ELT(list, i);
            }
        }
        return out;
    };
    std::map<std::string, SEXP> left = entries(a), right = entries(b);
    if (left.size() != right.size()) return false;
    for (const auto& [name, value] : left) {
        auto other = right.find(name);
        if (other == right.end() || !same_value(value, other->second)) return false;
    }
    return true;
}

std::string current_directory() {
    std::vector<char> buffer(4096);
    while (getcwd(buffer.data(), buffer.size()) == nullptr) {
        if (errno != ERANGE) return std::string();
        buffer.resize(buffer.size() * 2);
    }
    return buffer.data();
}

// The environments on the search path after the global one (what search() names), in order.
std::vector<SEXP> search_path() {
    std::vector<SEXP> path;
    for (SEXP env = ENCLOS(R_GlobalEnv); env != R_EmptyEnv; env = ENCLOS(env)) path.push_back(env);
    return path;
}

// search()'s entry for an environment of the search path.
std::string search_name(SEXP env) {
    if (env == R_BaseEnv) return "package:base";
    SEXP name = Rf_getAttrib(env, R_NameSymbol);
    return TYPEOF(name) == STRSXP && Rf_xlength(name) > 0 ? Rf_translateCharUTF8(STRING_ELT(name, 0)) : std::string();
}

// What a file is now, cheaply: inode, size and modification time ("" when missing).
std::vector<std::string> file_stamps(const std::vector<std::string>& paths) {
    std::vector<std::string> stamps;
    stamps.reserve(paths.size());
    for (const auto& path : paths) {
        struct stat info {};
        if (::stat(path.c_str(), &info) != 0) {
            stamps.emplace_back();
            continue;
        }
        stamps.push_back(std::to_string(info.st_ino) + ":" + std::to_string(info.st_size) + ":" +
                         std::to_string(info.st_mtim.tv_sec) + "." + std::to_string(info.st_mtim.tv_nsec));
    }
    return stamps;
}

bool search_path_is(SEXP target) {
    if (TYPEOF(target) != STRSXP) return false;
    std::vector<SEXP> path = search_path();
    if (static_cast<R_xlen_t>(path.size()) + 1 != Rf_xlength(target)) return false;
    if (std::string(Rf_translateCharUTF8(STRING_ELT(target, 0))) != ".GlobalEnv") return false;
    for (size_t i = 0; i < path.size(); ++i) {
        if (search_name(path[i]) != Rf_translateCharUTF8(STRING_ELT(target, static_cast<R_xlen_t>(i + 1))))
            return false;
    }
    return true;
}

} // namespace

struct GlobalState::Store {
    struct Held {
        PreservedObject object; // empty while evicted or not loaded yet
        bool opaque = false;
        std::optional<std::string> hash; // content hash, once computed (or the identity it was given)
        PreservedObject promise;         // what restore() binds while `object` is empty
    };
    ValueLoader loader;
    std::unordered_map<ValueHandle, Held> held;
    // Attached packages' versions, recomputed when the search path changes.
    std::vector<SEXP> packages_path;
    PreservedObject packages_path_alive;
    std::map<std::string, std::string> package_versions;
    // package_version's answers, each with the files that stand for the installation and their stamps then, valid
    // while .libPaths() is this object.
    struct KnownVersion {
        std::string version;
        std::vector<std::string> paths;
        std::vector<std::string> files;
    };
    std::map<std::string, KnownVersion> versions;
    PreservedObject library_paths;
    ValueHandle next = 0;

    PreservedObject baseline_options, baseline_wd, baseline_search, baseline_env;
    // The environment snapshot the session is known to equal (a held value or the baseline) and its digest then.
    PreservedObject known_env;
    std::uint64_t known_env_digest = 0;
    std::uint64_t before_env_digest = 0;

    // The watch in progress: the global environment's bindings before the cell ran, by name (the CHARSXP that
    // ls() and PRINTNAME share: R keeps one per string), and whether end_watch saw each still bound.
    struct Before {
        SEXP value;
        bool seen;
    };
    std::unordered_map<SEXP, Before> before;
    PreservedObject before_objects;    // a list keeping `before` alive (and its values copy-on-modify)
    PreservedObject before_options;    // a copy of the `.Options` spine (its values are shared, not copied)
    PreservedObject before_namespaces; // names of the namespaces loaded before the cell ran
    std::string before_wd;
    std::vector<SEXP> before_search;
    PreservedObject before_search_alive; // keeps the environments of before_search alive

    // The options snapshot the session is known to equal (a held value or the baseline), and the
    // `.Options` spine at that moment: if the spine has not changed since, restoring it is a no-op.
    PreservedObject known_options; // kept alive: a freed address could come back as another value
    PreservedObject known_options_spine;

    // What the global environment's tracked bindings are known to hold: those of the last restore's state except
    // the names in `changed_since_restore` (bound or removed by runs and bind() since). False until the first
    // restore, and after R may have changed bindings unseen.
    bool environment_known = false;
    std::set<std::string> changed_since_restore;

    // Symbols by name, so that restoring and watching cost no string hashing in R's symbol table (symbols and
    // their names live as long as the session). Restore keeps tracked names in the same (sorted) order as its
    // arguments, so that it walks them side by side.
    std::unordered_map<SEXP, SEXP> symbol_of_name; // CHARSXP -> symbol
    std::map<std::string, SEXP> tracked_symbols;   // tracked name -> symbol
    SEXP symbol(SEXP name) {
        auto [found, added] = symbol_of_name.try_emplace(name, nullptr);
        if (added) found->second = Rf_installChar(name);
        return found->second;
    }

    ValueHandle hold(SEXP value) {
        // Environments (R6, reference classes), external pointers and data.table change in place.
        int type = TYPEOF(value);
        bool opaque = type == ENVSXP || type == EXTPTRSXP || type == WEAKREFSXP || Rf_inherits(value, "data.table");
        // A snapshot must never change: any later modification of it copies first.
        if (!opaque) MARK_NOT_MUTABLE(value);
        ValueHandle handle = ++next;
        held.emplace(handle, Held{PreservedObject(value), opaque, std::nullopt, {}});
        return handle;
    }
    SEXP get(ValueHandle handle) const {
        auto found = held.find(handle);
        return found == held.end() ? nullptr : found->second.object.get();
    }
    // The object, or for one not in memory a promise that loads it when R reads it (made once).
    SEXP get_or_promise(ValueHandle handle);
    SEXP load(ValueHandle handle);
};

namespace {
GlobalState* g_lazy_state = nullptr; // the session's one GlobalState, for the promises' native routine
}

SEXP GlobalState::load_for_promise(ValueHandle value) { return store_->load(value); }

SEXP GlobalState::Store::get_or_promise(ValueHandle handle) {
    auto found = held.find(handle);
    if (found == held.end()) return nullptr;
    if (found->second.object.get() != nullptr) return found->second.object.get();
    if (found->second.promise.get() == nullptr) {
        // delayedAssign("v", .Call("ripple_load_value", handle, PACKAGE = "(embedding)"), baseenv(), env): the promise
        // object itself is taken out of env and bound wherever the value belongs.
        ProtectScope protect;
        SEXP env = protect(R_NewEnv(R_BaseEnv, FALSE, 0));
        SEXP load = protect(Rf_lang4(Rf_install(".Call"), Rf_mkString("ripple_load_value"),
                                     Rf_ScalarReal(static_cast<double>(handle)), Rf_mkString("(embedding)")));
        SET_TAG(CDR(CDR(CDR(load))), Rf_install("PACKAGE"));
        SEXP delayed = protect(Rf_lang5(Rf_install("delayedAssign"), Rf_mkString("v"), load, R_BaseEnv, env));
        int error = 0;
        R_tryEvalSilent(delayed, R_BaseEnv, &error);
        SEXP promise = error ? R_UnboundValue : Rf_findVarInFrame(env, Rf_install("v"));
        if (promise == R_UnboundValue || TYPEOF(promise) != PROMSXP) return nullptr;
        found->second.promise = PreservedObject(promise);
    }
    return found->second.promise.get();
}

SEXP GlobalState::Store::load(ValueHandle handle) {
    auto found = held.find(handle);
    if (found == held.end()) return nullptr;
    if (found->second.object.get() != nullptr) return found->second.object.get();
    std::optional<LoadedBytes> bytes = loader ? loader(handle) : std::nullopt;
    if (!bytes) return nullptr;
    PreservedObject object = ::ripple::rbridge::unserialize_value(bytes->bytes, ValueFormat::Native, bytes->mapped);
    if (object.get() == nullptr) return nullptr;
    MARK_NOT_MUTABLE(object.get());
    found->second.object = std::move(object);
    environment_known = false; // a binding to its promise is restored to the object
    return found->second.object.get();
}

extern "C" SEXP ripple_native_load_value(SEXP handle) {
    SEXP value = nullptr;
    if (g_lazy_state != nullptr) value = g_lazy_state->load_for_promise(static_cast<ValueHandle>(Rf_asReal(handle)));
    // No C++ object with a destructor is alive here: Rf_error's longjmp skips nothing.
    if (value == nullptr) Rf_error("ripple: a value kept in the cache could not be loaded; run its cell again.");
    return value;
}

GlobalState::GlobalState() : store_(std::make_unique<Store>()) {
    g_lazy_state = this;
    store_->baseline_options = PreservedObject(call_guarded(Rf_install("options"), {}));
    store_->baseline_wd = PreservedObject(call_guarded(Rf_install("getwd"), {}));
    store_->baseline_search = PreservedObject(call_guarded(Rf_install("search"), {}));
    store_->baseline_env = PreservedObject(call_ripple(".environment_snapshot", {}));
    store_->known_env = PreservedObject(store_->baseline_env.get());
    store_->known_env_digest = environment_digest();
    store_->known_options = PreservedObject(store_->baseline_options.get());
    store_->known_options_spine = PreservedObject(Rf_shallow_duplicate(options_pairlist()));
    // The analysis's R functions are lazily loaded from the package on first use: 1-2 ms of the first cells'
    // planning, paid here instead, while R starts.
    analyze("x <- f(y + 1, z = 'a'); x$a[1] <- g(x); library(p); h <- function(a) a", true);
}

GlobalState::~GlobalState() {
    if (g_lazy_state == this) g_lazy_state = nullptr;
}

StaticAnalysis GlobalState::analyze(const std::string& code, bool with_fingerprint) {
    StaticAnalysis analysis;
    ProtectScope protect;
    SEXP result = call_ripple(".analyze_cell", {protect(Rf_mkString(code.c_str()))});
    if (result == nullptr || !as_bool(list_element(result, "ok"))) {
        analysis.parsed = false;
        return analysis;
    }
    protect(result);
    analysis.defs = string_set(list_element(result, "defs"));
    analysis.uses = string_set(list_element(result, "uses"));
    analysis.deletes = string_set(list_element(result, "deletes"));
    if (analysis.deletes.count("*")) {
        analysis.deletes.erase("*");
        analysis.deletes_all = true;
    }
    analysis.attaches = string_set(list_element(result, "attaches"));
    analysis.files = string_set(list_element(result, "files"));
    analysis.effects = string_set(list_element(result, "effects"));
    analysis.is_volatile = as_bool(list_element(result, "volatile"));
    if (with_fingerprint) {
        // The parsed expressions themselves, without source references: comments and layout are gone,
        // and `1` and `1.0` (the same constant) agree. Hashing their serialization costs microseconds
        // where a token walk through getParseData costs a millisecond per cell.
        ParseStatus status = PARSE_NULL;
        std::string text = code;
        for (size_t at = text.find("\r\n"); at != std::string::npos; at = text.find("\r\n", at)) text.erase(at, 1);
        SEXP exprs = protect(R_ParseVector(protect(Rf_mkString(text.c_str())), -1, &status, R_NilValue));
        if (status == PARSE_OK) {
            if (auto hash = ::ripple::rbridge::value_hash(exprs)) analysis.fingerprint = "ast:" + *hash;
        }
    }
    return analysis;
}

std::set<std::string> GlobalState::closure_uses(const std::set<std::string>& names) {
    // Only functions have free variables: skip the R walk when none of the names is one.
    std::set<std::string> functions;
    for (const auto& name : names) {
        if (name.empty() || name[0] == '@') continue;
        SEXP value = global_binding(Rf_install(name.c_str()));
        if (value != nullptr && TYPEOF(value) == CLOSXP) functions.insert(name);
    }
    if (functions.empty()) return {};
    ProtectScope protect;
    SEXP result = call_ripple(".closure_uses", {protect(make_strings(functions))});
    return result == nullptr ? std::set<std::string>{} : string_set(result);
}

std::set<std::string> GlobalState::package_exports(const std::string& package) {
    ProtectScope protect;
    SEXP result = call_ripple(".package_exports", {protect(Rf_mkString(package.c_str()))});
    return result == nullptr ? std::set<std::string>{} : string_set(result);
}

std::set<std::string> GlobalState::attached_between(ValueHandle before, ValueHandle after) {
    auto packages = [&](ValueHandle handle) {
        SEXP value = handle == 0 ? nullptr : store_->get(handle);
        if (value == nullptr) value = store_->baseline_search.get();
        std::set<std::string> names;
        if (value == nullptr || TYPEOF(value) != STRSXP) return names;
        for (R_xlen_t i = 0; i < Rf_xlength(value); ++i) {
            std::string entry = Rf_translateCharUTF8(STRING_ELT(value, i));
            if (entry.rfind("package:", 0) == 0) names.insert(entry.substr(8));
        }
        return names;
    };
    std::set<std::string> had = packages(before), attached;
    for (const auto& name : packages(after)) {
        if (!had.count(name)) attached.insert(name);
    }
    return attached;
}

void GlobalState::restore(const std::map<std::string, ValueHandle>& state, const std::set<std::string>& tracked,
                          const std::set<std::string>* changed) {
    restore_session_state(state, tracked);
    Store& s = *store_;
    if (changed != nullptr && s.environment_known) {
        // Only what may differ: the names the cells in between bound, and those runs here changed since.
        std::set<std::string> names = *changed;
        names.insert(s.changed_since_restore.begin(), s.changed_since_restore.end());
        for (const auto& name : names) {
            if (!name.empty() && name[0] != '@' && tracked.count(name)) {
                auto found = state.find(name);
                restore_binding(Rf_install(name.c_str()), found == state.end() ? nullptr : &found->second);
            }
        }
    } else {
        restore_every_binding(state, tracked);
    }
    s.environment_known = true;
    s.changed_since_restore.clear();
}

void GlobalState::bind(const std::map<std::string, ValueHandle>& values) {
    std::set<std::string> names;
    for (const auto& [name, value] : values) names.insert(name);
    restore_session_state(values, names);
    for (const auto& [name, value] : values) {
        if (name.empty() || name[0] == '@') continue;
        restore_binding(Rf_install(name.c_str()), &value);
        store_->changed_since_restore.insert(name);
    }
}

void GlobalState::forget_environment() { store_->environment_known = false; }

// One name: bound to `wanted`'s object (or the promise that loads it), or removed when `wanted` is null. A look at
// the binding and nothing else when it already holds that; a locked binding is left alone.
void GlobalState::restore_binding(SEXP symbol, const ValueHandle* wanted_handle) {
    SEXP wanted = wanted_handle == nullptr ? nullptr : store_->get_or_promise(*wanted_handle);
    SEXP current = Rf_findVarInFrame(R_GlobalEnv, symbol);
    bool bound = current != R_UnboundValue;
    if (wanted != nullptr ? current == wanted : !bound) return;
    if (bound && R_BindingIsLocked(symbol, R_GlobalEnv)) return;
    if (wanted != nullptr) Rf_defineVar(symbol, wanted, R_GlobalEnv);
    else R_removeVarFromFrame(symbol, R_GlobalEnv);
}

// Options, working directory, environment variables and search path, those of `names` that are tracked.
void GlobalState::restore_session_state(const std::map<std::string, ValueHandle>& state,
                                        const std::set<std::string>& tracked) {
    auto target = [&](const char* name, const PreservedObject& baseline) -> SEXP {
        auto found = state.find(name);
        SEXP value = found == state.end() ? nullptr : store_->get(found->second);
        return value != nullptr ? value : baseline.get();
    };
    Store& s = *store_;
    // The search path first: attaching a package must not mask a variable restored below.
    if (tracked.count(kSearchState) && s.baseline_search.get()) {
        SEXP wanted = target(kSearchState, s.baseline_search);
        if (!search_path_is(wanted)) {
            call_ripple(".restore_search", {wanted});
            s.environment_known = false; // an attached package's hooks run R code: every binding is looked at
        }
    }
    if (tracked.count(kOptionsState) && s.baseline_options.get()) {
        SEXP wanted = target(kOptionsState, s.baseline_options);
        bool known = wanted == s.known_options.get() && s.known_options_spine.get() != nullptr &&
                     same_options(options_pairlist(), s.known_options_spine.get());
        if (!known && !same_options(options_pairlist(), wanted)) call_ripple(".restore_options", {wanted});
        s.known_options = PreservedObject(wanted);
        s.known_options_spine = PreservedObject(Rf_shallow_duplicate(options_pairlist()));
    }
    if (tracked.count(kEnvState) && s.baseline_env.get()) {
        SEXP wanted = target(kEnvState, s.baseline_env);
        if (wanted != s.known_env.get() || environment_digest() != s.known_env_digest) {
            call_ripple(".restore_environment", {wanted});
            s.known_env = PreservedObject(wanted);
            s.known_env_digest = environment_digest();
        }
    }
    if (tracked.count(kWorkdirState) && s.baseline_wd.get()) {
        SEXP wanted = target(kWorkdirState, s.baseline_wd);
        if (TYPEOF(wanted) != STRSXP || Rf_xlength(wanted) != 1 ||
            current_directory() != Rf_translateCharUTF8(STRING_ELT(wanted, 0))) {
            call_ripple(".restore_wd", {wanted});
        }
    }
}

void GlobalState::restore_every_binding(const std::map<std::string, ValueHandle>& state,
                                        const std::set<std::string>& tracked) {
    Store& s = *store_;
    // Every tracked name, walked side by side with `state` and the symbols (all sorted by name): per name, a look at
    // its binding and nothing else unless it differs (a 1000-cell chain restored 1000 names a cell; issue 15).
    auto found = state.begin();
    auto known = s.tracked_symbols.begin();
    for (const auto& name : tracked) {
        if (name.empty() || name[0] == '@') continue;
        while (known != s.tracked_symbols.end() && known->first < name) ++known;
        if (known == s.tracked_symbols.end() || known->first != name)
            known = s.tracked_symbols.emplace_hint(known, name, Rf_install(name.c_str()));
        SEXP symbol = known->second;
        while (found != state.end() && found->first < name) ++found;
        restore_binding(symbol, found == state.end() || found->first != name ? nullptr : &found->second);
    }
}

void GlobalState::begin_watch() {
    Store& s = *store_;
    s.before.clear();
    ProtectScope protect;
    SEXP names = protect(R_lsInternal3(R_GlobalEnv, TRUE, FALSE));
    R_xlen_t count = Rf_xlength(names);
    SEXP objects = protect(Rf_allocVector(VECSXP, count));
    s.before.reserve(static_cast<size_t>(count));
    for (R_xlen_t i = 0; i < count; ++i) {
        SEXP name = STRING_ELT(names, i);
        SEXP value = global_binding(s.symbol(name));
        if (value == nullptr) continue;
        SET_VECTOR_ELT(objects, i, value);
        s.before.emplace(name, Store::Before{value, false});
    }
    s.before_objects = PreservedObject(objects);
    s.before_options = PreservedObject(Rf_shallow_duplicate(options_pairlist()));
    s.before_namespaces = PreservedObject(R_lsInternal3(R_NamespaceRegistry, TRUE, FALSE));
    s.before_wd = current_directory();
    s.before_env_digest = environment_digest();
    s.before_search = search_path();
    SEXP alive = protect(Rf_allocVector(VECSXP, static_cast<R_xlen_t>(s.before_search.size())));
    for (size_t i = 0; i < s.before_search.size(); ++i)
        SET_VECTOR_ELT(alive, static_cast<R_xlen_t>(i), s.before_search[i]);
    s.before_search_alive = PreservedObject(alive);
}

StateChange GlobalState::end_watch(const std::set<std::string>& watched_names) {
    Store& s = *store_;
    StateChange change;
    ProtectScope protect;
    SEXP names = protect(R_lsInternal3(R_GlobalEnv, TRUE, FALSE));
    for (R_xlen_t i = 0; i < Rf_xlength(names); ++i) {
        SEXP name = STRING_ELT(names, i);
        SEXP value = global_binding(s.symbol(name));
        if (value == nullptr) continue;
        auto old = s.before.find(name);
        if (old != s.before.end()) old->second.seen = true;
        if (old == s.before.end() || old->second.value != value)
            change.bound[Rf_translateCharUTF8(name)] = s.hold(value);
    }
    for (const auto& name : watched_names) {
        auto old = s.before.find(PRINTNAME(Rf_install(name.c_str())));
        if (old != s.before.end() && old->second.seen && !change.bound.count(name)) change.passed_through.insert(name);
    }
    for (const auto& [name, old] : s.before) {
        if (!old.seen) change.removed.insert(Rf_translateCharUTF8(name));
    }
    for (const auto& [name, value] : change.bound) s.changed_since_restore.insert(name);
    s.changed_since_restore.insert(change.removed.begin(), change.removed.end());
    // Pseudo-state: compared in C; R is asked for a snapshot (options(), getwd(), search()) only on a change.
    auto snapshot = [&](const char* state, const char* getter) {
        SEXP now = call_guarded(Rf_install(getter), {});
        if (now != nullptr) change.bound[state] = s.hold(now);
        return now;
    };
    if (s.before_options.get() != nullptr && !same_options(s.before_options.get(), options_pairlist())) {
        // Options that appeared while the cell loaded a namespace are that package's state: restoring an earlier
        // snapshot must not take them away while the namespace stays loaded (state.R, .restore_options).
        // When those are the only change, the cell did not change options(): loading a package is not an options()
        // change the engine must snapshot (a cell whose DT:: call loads cli stays cacheable).
        bool only_package_options = false;
        if (Rf_xlength(R_lsInternal3(R_NamespaceRegistry, TRUE, FALSE)) != Rf_xlength(s.before_namespaces.get())) {
            SEXP noted = call_ripple(".note_package_options", {s.before_options.get(), s.before_namespaces.get()});
            only_package_options = noted != nullptr && as_bool(noted);
        }
        if (only_package_options) {
            s.known_options_spine = PreservedObject(Rf_shallow_duplicate(options_pairlist()));
        } else if (SEXP now = snapshot(kOptionsState, "options")) {
            s.known_options = PreservedObject(now);
            s.known_options_spine = PreservedObject(Rf_shallow_duplicate(options_pairlist()));
        }
    }
    if (current_directory() != s.before_wd) snapshot(kWorkdirState, "getwd");
    if (std::uint64_t digest = environment_digest(); digest != s.before_env_digest) {
        if (SEXP now = call_ripple(".environment_snapshot", {})) {
            change.bound[kEnvState] = s.hold(now);
            s.known_env = PreservedObject(now);
            s.known_env_digest = digest;
        }
    }
    if (search_path() != s.before_search) {
        std::set<std::string> old_path;
        for (SEXP env : s.before_search) old_path.insert(search_name(env));
        if (SEXP now = snapshot(kSearchState, "search")) {
            for (const auto& entry : as_strings(now)) {
                if (entry.rfind("package:", 0) == 0 && !old_path.count(entry))
                    change.attached_packages.insert(entry.substr(8));
            }
        }
    }
    s.before.clear();
    s.before_objects = PreservedObject();
    s.before_options = PreservedObject();
    s.before_namespaces = PreservedObject();
    s.before_search_alive = PreservedObject();
    return change;
}

namespace {

std::string option_text(SEXP value) {
    if (value == nullptr || Rf_xlength(value) != 1)
        return value == nullptr ? std::string("NULL") : "<" + std::to_string(Rf_xlength(value)) + ">";
    switch (TYPEOF(value)) {
    case INTSXP: return std::to_string(INTEGER(value)[0]);
    case LGLSXP: return std::to_string(LOGICAL(value)[0]);
    case REALSXP: {
        char text[64];
        std::snprintf(text, sizeof text, "%.17g", REAL(value)[0]);
        return text;
    }
    case STRSXP: return Rf_translateCharUTF8(STRING_ELT(value, 0));
    default: return "<" + std::string(Rf_type2char(TYPEOF(value))) + ">";
    }
}

} // namespace

GlobalState::KeyFacts GlobalState::key_facts() {
    Store& s = *store_;
    KeyFacts facts;
    static const std::string r_version = [] {
        SEXP version = call_guarded(Rf_install("getRversion"), {});
        std::string text = version ? as_strings(call_guarded(Rf_install("as.character"), {version})).at(0) : "";
        return text.substr(0, text.rfind('.'));
    }();
    facts.r_version = r_version;
    std::vector<SEXP> path = search_path();
    if (path != s.packages_path) {
        s.package_versions.clear();
        for (SEXP env : path) {
            std::string name = search_name(env);
            if (name.rfind("package:", 0) == 0) s.package_versions[name.substr(8)] = package_version(name.substr(8));
        }
        s.packages_path = path;
        ProtectScope protect;
        SEXP alive = protect(Rf_allocVector(VECSXP, static_cast<R_xlen_t>(path.size())));
        for (size_t i = 0; i < path.size(); ++i) SET_VECTOR_ELT(alive, static_cast<R_xlen_t>(i), path[i]);
        s.packages_path_alive = PreservedObject(alive);
    }
    facts.packages = s.package_versions;
    for (const char* name : {"digits", "scipen", "OutDec", "width"}) {
        SEXP symbol = Rf_install(name);
        SEXP value = nullptr;
        for (SEXP x = options_pairlist(); x != R_NilValue; x = CDR(x)) {
            if (TAG(x) == symbol) value = CAR(x);
        }
        facts.output_options[name] = option_text(value);
    }
    for (int category : {LC_COLLATE, LC_CTYPE, LC_NUMERIC, LC_TIME}) {
        const char* locale = std::setlocale(category, nullptr);
        facts.locale += std::string(locale ? locale : "?") + ";";
    }
    return facts;
}

std::string GlobalState::package_version(const std::string& package) {
    // utils::packageVersion reads the installed package's metadata from disk (about 0.3 ms, for every use of a
    // package's function in a cache key; issue 15): remembered while .libPaths() is the same object and the files
    // that stand for the installation (its DESCRIPTION, each library folder: a reinstall changes them) keep their
    // stamps.
    Store& s = *store_;
    SEXP library_paths = nullptr;
    SEXP lib_paths = Rf_findVarInFrame(R_BaseEnv, Rf_install(".libPaths"));
    if (TYPEOF(lib_paths) == PROMSXP) lib_paths = PRVALUE(lib_paths); // base is lazy-loaded
    if (TYPEOF(lib_paths) == CLOSXP) library_paths = Rf_findVarInFrame(CLOENV(lib_paths), Rf_install(".lib.loc"));
    if (library_paths == nullptr || library_paths == R_UnboundValue || library_paths != s.library_paths.get()) {
        s.versions.clear();
        s.library_paths = PreservedObject(library_paths == R_UnboundValue ? nullptr : library_paths);
    }
    auto found = s.versions.find(package);
    if (found != s.versions.end() && library_paths != nullptr &&
        found->second.files == file_stamps(found->second.paths))
        return found->second.version;
    ProtectScope protect;
    SEXP name = protect(Rf_mkString(package.c_str()));
    SEXP result = call_ripple(".package_version", {name});
    std::string version = result == nullptr ? std::string() : as_strings(result).at(0);
    if (result != nullptr) {
        SEXP files = call_ripple(".package_files", {name});
        if (files != nullptr && TYPEOF(files) == STRSXP) {
            Store::KnownVersion known{version, as_strings(files), {}};
            known.files = file_stamps(known.paths);
            s.versions[package] = std::move(known);
        }
    }
    return version;
}

std::optional<std::vector<std::string>> GlobalState::package_files(const std::set<std::string>& packages) {
    ProtectScope protect;
    SEXP names = protect(Rf_allocVector(STRSXP, static_cast<R_xlen_t>(packages.size())));
    R_xlen_t i = 0;
    for (const auto& package : packages) SET_STRING_ELT(names, i++, Rf_mkCharCE(package.c_str(), CE_UTF8));
    SEXP result = call_ripple(".package_files", {names});
    if (result == nullptr || TYPEOF(result) != STRSXP) return std::nullopt;
    return as_strings(result);
}

std::string GlobalState::rng_kind() {
    SEXP result = call_ripple(".rng_kind", {});
    return result == nullptr ? std::string() : as_strings(result).at(0);
}

std::optional<std::string> GlobalState::value_hash(ValueHandle value) {
    auto found = store_->held.find(value);
    if (found == store_->held.end() || found->second.opaque) return std::nullopt;
    // Computed once: held values are immutable. "" remembers that the value could not be serialized.
    if (!found->second.hash)
        found->second.hash = ::ripple::rbridge::value_hash(found->second.object.get()).value_or("");
    if (found->second.hash->empty()) return std::nullopt;
    return found->second.hash;
}

std::optional<std::string> GlobalState::serialize(ValueHandle value) {
    SEXP object = store_->get(value);
    if (object == nullptr || is_opaque(value)) return std::nullopt;
    return ::ripple::rbridge::serialize_value(object);
}

ValueHandle GlobalState::unserialize(const std::string& bytes, const std::string& hash) {
    PreservedObject object = ::ripple::rbridge::unserialize_value(bytes);
    if (object.get() == nullptr) return 0;
    ValueHandle handle = store_->hold(object.get());
    store_->held[handle].hash = hash;
    return handle;
}

bool GlobalState::is_opaque(ValueHandle value) const {
    auto found = store_->held.find(value);
    return found != store_->held.end() && found->second.opaque;
}

namespace {

// Memory a value takes, roughly: enough to tell a 400 MB vector from a small one without touching its elements
// (except a list's). ALTREP objects (compact sequences, memory maps) count as small: they are not materialized here.
std::uint64_t approximate_bytes(SEXP value, int depth) {
    if (value == R_NilValue || depth > 64) return 0;
    std::uint64_t bytes = 56;
    if (ALTREP(value)) return bytes;
    switch (TYPEOF(value)) {
    case LGLSXP:
    case INTSXP: bytes += 4 * static_cast<std::uint64_t>(XLENGTH(value)); break;
    case REALSXP: bytes += 8 * static_cast<std::uint64_t>(XLENGTH(value)); break;
    case CPLXSXP: bytes += 16 * static_cast<std::uint64_t>(XLENGTH(value)); break;
    case RAWSXP: bytes += static_cast<std::uint64_t>(XLENGTH(value)); break;
    case STRSXP: bytes += 8 * static_cast<std::uint64_t>(XLENGTH(value)); break;
    case VECSXP:
    case EXPRSXP: {
        R_xlen_t n = XLENGTH(value);
        bytes += 8 * static_cast<std::uint64_t>(n);
        for (R_xlen_t i = 0; i < n; ++i) bytes += approximate_bytes(VECTOR_ELT(value, i), depth + 1);
        break;
    }
    default: break;
    }
    for (SEXP cell = ATTRIB(value); cell != R_NilValue && TYPEOF(cell) == LISTSXP; cell = CDR(cell))
        bytes += approximate_bytes(CAR(cell), depth + 1);
    return bytes;
}

} // namespace

std::optional<std::uint64_t> GlobalState::value_bytes(ValueHandle value) {
    SEXP object = store_->get(value);
    if (object == nullptr || is_opaque(value)) return std::nullopt;
    return approximate_bytes(object, 0);
}

void GlobalState::set_identity(ValueHandle value, const std::string& identity) {
    auto found = store_->held.find(value);
    if (found != store_->held.end() && !found->second.opaque) found->second.hash = identity;
}

bool GlobalState::hash_known(ValueHandle value) const {
    auto found = store_->held.find(value);
    return found != store_->held.end() && found->second.hash && !found->second.hash->empty();
}

bool GlobalState::evict(ValueHandle value) {
    forget_environment(); // bindings to its object or promise are now restored anew
    auto found = store_->held.find(value);
    if (found == store_->held.end() || found->second.opaque || !hash_known(value)) return false;
    found->second.object = PreservedObject();
    return true;
}

bool GlobalState::resident(ValueHandle value) const {
    auto found = store_->held.find(value);
    return found == store_->held.end() || found->second.object.get() != nullptr;
}

bool GlobalState::refill(ValueHandle value, std::string_view bytes, bool mapped) {
    forget_environment(); // bindings to its object or promise are now restored anew
    auto found = store_->held.find(value);
    if (found == store_->held.end()) return false;
    PreservedObject object = ::ripple::rbridge::unserialize_value(bytes, ValueFormat::Native, mapped);
    if (object.get() == nullptr) return false;
    MARK_NOT_MUTABLE(object.get());
    found->second.object = std::move(object);
    found->second.promise = PreservedObject();
    return true;
}

bool GlobalState::adopt(ValueHandle into, ValueHandle from) {
    forget_environment(); // bindings to its object or promise are now restored anew
    auto target = store_->held.find(into);
    SEXP object = store_->get(from);
    if (target == store_->held.end() || object == nullptr) return false;
    target->second.object = PreservedObject(object);
    target->second.promise = PreservedObject();
    release(from);
    return true;
}

ValueHandle GlobalState::hold_lazy(const std::string& identity) {
    ValueHandle handle = ++store_->next;
    store_->held.emplace(handle, Store::Held{PreservedObject(), false, identity, PreservedObject()});
    return handle;
}

void GlobalState::set_loader(ValueLoader loader) { store_->loader = std::move(loader); }

std::optional<BackgroundWrite> GlobalState::write_in_background(ValueHandle value, const std::string& path) {
    SEXP object = store_->get(value);
    if (object == nullptr || is_opaque(value)) return std::nullopt;
    return BackgroundWrite::start(object, path);
}

ValueHandle GlobalState::rehold(ValueHandle value) {
    SEXP object = store_->get(value);
    if (object == nullptr) return 0;
    ValueHandle handle = ++store_->next;
    store_->held.emplace(handle,
                         Store::Held{PreservedObject(object), is_opaque(value), store_->held.at(value).hash, {}});
    return handle;
}

void GlobalState::release(ValueHandle value) { store_->held.erase(value); }

std::size_t GlobalState::held_values() const { return store_->held.size(); }

} // namespace ripple::rbridge
