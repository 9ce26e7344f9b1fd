// global_state.cpp: values held by handle (immutable snapshots), identity diff of the global environment,
// restoring bindings and pseudo-state through the ripple R package. No dag/ or Jupyter.
#include "global_state.hpp"

#include <unordered_map>
#include <vector>

#include "r_values.hpp"

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

} // namespace

struct GlobalState::Store {
    struct Held {
        PreservedObject object;
        bool opaque = false;
    };
    std::unordered_map<ValueHandle, Held> held;
    ValueHandle next = 0;

    PreservedObject baseline_options, baseline_wd, baseline_search;

    // The watch in progress: names and objects of the global environment before the cell ran.
    std::map<std::string, SEXP> before;
    PreservedObject before_objects;  // a list keeping `before` alive (and its values copy-on-modify)
    PreservedObject before_options, before_wd, before_search;

    ValueHandle hold(SEXP value) {
        // Environments (R6, reference classes), external pointers and data.table change in place.
        int type = TYPEOF(value);
        bool opaque = type == ENVSXP || type == EXTPTRSXP || type == WEAKREFSXP || Rf_inherits(value, "data.table");
        // A snapshot must never change: any later modification of it copies first.
        if (!opaque) MARK_NOT_MUTABLE(value);
        ValueHandle handle = ++next;
        held.emplace(handle, Held{PreservedObject(value), opaque});
        return handle;
    }
    SEXP get(ValueHandle handle) const {
        auto found = held.find(handle);
        return found == held.end() ? nullptr : found->second.object.get();
    }
};

GlobalState::GlobalState() : store_(std::make_unique<Store>()) {
    store_->baseline_options = PreservedObject(call_guarded(Rf_install("options"), {}));
    store_->baseline_wd = PreservedObject(call_guarded(Rf_install("getwd"), {}));
    store_->baseline_search = PreservedObject(call_guarded(Rf_install("search"), {}));
}

GlobalState::~GlobalState() = default;

StaticAnalysis GlobalState::analyze(const std::string& code) {
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

void GlobalState::restore(const std::map<std::string, ValueHandle>& state, const std::set<std::string>& tracked) {
    auto target = [&](const char* name, const PreservedObject& baseline) -> SEXP {
        auto found = state.find(name);
        SEXP value = found == state.end() ? nullptr : store_->get(found->second);
        return value != nullptr ? value : baseline.get();
    };
    // The search path first: attaching a package must not mask a variable restored below.
    if (tracked.count(kSearchState) && store_->baseline_search.get()) {
        call_ripple(".restore_search", {target(kSearchState, store_->baseline_search)});
    }
    if (tracked.count(kOptionsState) && store_->baseline_options.get()) {
        call_ripple(".restore_options", {target(kOptionsState, store_->baseline_options)});
    }
    if (tracked.count(kWorkdirState) && store_->baseline_wd.get()) {
        call_ripple(".restore_wd", {target(kWorkdirState, store_->baseline_wd)});
    }
    for (const auto& name : tracked) {
        if (name.empty() || name[0] == '@') continue;
        SEXP symbol = Rf_install(name.c_str());
        auto found = state.find(name);
        SEXP wanted = found == state.end() ? nullptr : store_->get(found->second);
        bool bound = R_existsVarInFrame(R_GlobalEnv, symbol);
        SEXP current = bound ? Rf_findVarInFrame(R_GlobalEnv, symbol) : R_UnboundValue;
        if (bound && R_BindingIsLocked(symbol, R_GlobalEnv)) continue;
        if (wanted != nullptr) {
            if (current != wanted) Rf_defineVar(symbol, wanted, R_GlobalEnv);
        } else if (bound) {
            R_removeVarFromFrame(symbol, R_GlobalEnv);
        }
    }
}

void GlobalState::begin_watch() {
    Store& s = *store_;
    s.before.clear();
    ProtectScope protect;
    SEXP names = protect(R_lsInternal3(R_GlobalEnv, TRUE, FALSE));
    R_xlen_t count = Rf_xlength(names);
    SEXP objects = protect(Rf_allocVector(VECSXP, count));
    for (R_xlen_t i = 0; i < count; ++i) {
        const char* name = Rf_translateCharUTF8(STRING_ELT(names, i));
        SEXP value = global_binding(Rf_install(name));
        if (value == nullptr) continue;
        SET_VECTOR_ELT(objects, i, value);
        s.before.emplace(name, value);
    }
    s.before_objects = PreservedObject(objects);
    s.before_options = PreservedObject(call_guarded(Rf_install("options"), {}));
    s.before_wd = PreservedObject(call_guarded(Rf_install("getwd"), {}));
    s.before_search = PreservedObject(call_guarded(Rf_install("search"), {}));
}

StateChange GlobalState::end_watch(const std::set<std::string>& watched_names) {
    Store& s = *store_;
    StateChange change;
    ProtectScope protect;
    SEXP names = protect(R_lsInternal3(R_GlobalEnv, TRUE, FALSE));
    std::set<std::string> present;
    for (R_xlen_t i = 0; i < Rf_xlength(names); ++i) {
        std::string name = Rf_translateCharUTF8(STRING_ELT(names, i));
        SEXP value = global_binding(Rf_install(name.c_str()));
        if (value == nullptr) continue;
        present.insert(name);
        auto old = s.before.find(name);
        if (old == s.before.end() || old->second != value) change.bound[name] = s.hold(value);
        else if (watched_names.count(name)) change.passed_through.insert(name);
    }
    for (const auto& [name, value] : s.before) {
        if (!present.count(name)) change.removed.insert(name);
    }
    SEXP identical = Rf_install("identical");
    auto compare = [&](const char* state, const char* getter, PreservedObject& before) {
        SEXP now = call_guarded(Rf_install(getter), {});
        if (now == nullptr || before.get() == nullptr) return;
        protect(now);
        if (!as_bool(call_guarded(identical, {before.get(), now}), true)) change.bound[state] = s.hold(now);
    };
    compare(kOptionsState, "options", s.before_options);
    compare(kWorkdirState, "getwd", s.before_wd);
    compare(kSearchState, "search", s.before_search);
    if (change.bound.count(kSearchState)) {
        std::set<std::string> old_path = string_set(s.before_search.get());
        for (const auto& entry : as_strings(s.get(change.bound[kSearchState]))) {
            if (entry.rfind("package:", 0) == 0 && !old_path.count(entry)) change.attached_packages.insert(entry.substr(8));
        }
    }
    s.before.clear();
    s.before_objects = PreservedObject();
    return change;
}

bool GlobalState::is_opaque(ValueHandle value) const {
    auto found = store_->held.find(value);
    return found != store_->held.end() && found->second.opaque;
}

ValueHandle GlobalState::rehold(ValueHandle value) {
    SEXP object = store_->get(value);
    if (object == nullptr) return 0;
    ValueHandle handle = ++store_->next;
    store_->held.emplace(handle, Store::Held{PreservedObject(object), is_opaque(value)});
    return handle;
}

void GlobalState::release(ValueHandle value) { store_->held.erase(value); }

std::size_t GlobalState::held_values() const { return store_->held.size(); }

} // namespace ripple::rbridge
