// reason.cpp: the wording of every staleness, cacheability and dry-run reason, in one place.
// Pure C++: must not know about R headers, Jupyter or sockets, nor how the engine found the reason.
#include "dag/reason.hpp"

#include "dag/cell_runtime.hpp"

namespace ripple::dag {

Reason Reason::changed_input(const std::string& symbol) {
    if (symbol.rfind(kFilePrefix, 0) == 0) return file_changed(symbol.substr(kFilePrefix.size()));
    Reason reason(ReasonKind::InputChanged);
    reason.symbol = symbol;
    return reason;
}

Reason Reason::file_changed(const std::string& path) {
    Reason reason(ReasonKind::FileChanged);
    reason.path = path;
    return reason;
}

Reason Reason::upstream_stale(const std::string& cell) {
    Reason reason(ReasonKind::UpstreamStale);
    reason.cell = cell;
    return reason;
}

Reason Reason::opaque_rebuilt(const std::string& symbol, const std::string& cell) {
    Reason reason(ReasonKind::OpaqueRebuilt);
    reason.symbol = symbol;
    reason.cell = cell;
    return reason;
}

Reason Reason::reads_recomputed(const std::string& symbol, const std::string& cell) {
    Reason reason(ReasonKind::ReadsRecomputed);
    reason.symbol = symbol;
    reason.cell = cell;
    return reason;
}

Reason Reason::key_part_changed(const std::string& sentence) {
    Reason reason(ReasonKind::KeyPartChanged);
    reason.detail = sentence;
    return reason;
}

Reason Reason::reaches_outside(const std::vector<std::string>& what) {
    Reason reason(ReasonKind::ReachesOutside);
    for (size_t i = 0; i < what.size() && i < 3; ++i) reason.detail += (i ? ", " : "") + what[i];
    if (what.size() > 3) reason.detail += " and " + std::to_string(what.size() - 3) + " more";
    return reason;
}

Reason Reason::rewrites_input(const std::string& path) {
    Reason reason(ReasonKind::RewritesInput);
    reason.path = path;
    return reason;
}

const std::vector<ReasonKind>& all_reason_kinds() {
    static const std::vector<ReasonKind> kinds{
        ReasonKind::NeverRan,          ReasonKind::CodeEdited,      ReasonKind::InputChanged,
        ReasonKind::FileChanged,       ReasonKind::UpstreamStale,   ReasonKind::OpaqueRebuilt,
        ReasonKind::OptedOut,          ReasonKind::Volatile,        ReasonKind::ChangesPackages,
        ReasonKind::ChangesOptions,    ReasonKind::ChangesWorkdir,  ReasonKind::ChangesEnvironment,
        ReasonKind::RemovesEverything, ReasonKind::UnhashableRead,  ReasonKind::ReachesOutside,
        ReasonKind::RewritesInput,     ReasonKind::DoesNotParse,    ReasonKind::ReadsRecomputed,
        ReasonKind::KeyPartChanged,    ReasonKind::NoMatchingEntry, ReasonKind::NotRunWithCache};
    return kinds;
}

std::string subject_of(const std::string& symbol) {
    if (symbol == kOptionsSymbol) return "options()";
    if (symbol == kWorkdirSymbol) return "the working directory";
    if (symbol == kSearchSymbol) return "the attached packages";
    if (symbol == kEnvSymbol) return "the environment variables";
    if (symbol == kGlobalsSymbol) return "the global environment";
    if (symbol.rfind(kFilePrefix, 0) == 0) return "file " + symbol.substr(kFilePrefix.size());
    return symbol;
}

namespace {

// What a changed input is called: the subject of "... changed".
std::string changed_subject(const Reason& reason) {
    return reason.kind == ReasonKind::FileChanged ? "file " + reason.path : subject_of(reason.symbol);
}

bool is_changed_input(ReasonKind kind) { return kind == ReasonKind::InputChanged || kind == ReasonKind::FileChanged; }

} // namespace

std::string describe(const Reason& reason, const CellNamer& name) {
    switch (reason.kind) {
    case ReasonKind::NeverRan: return "it has not run yet";
    case ReasonKind::CodeEdited: return "its code changed since it ran";
    case ReasonKind::InputChanged:
    case ReasonKind::FileChanged: return changed_subject(reason) + " changed";
    case ReasonKind::UpstreamStale: return "it reads from stale " + name(reason.cell);
    case ReasonKind::OpaqueRebuilt:
        return "reran " + name(reason.cell) + " to rebuild `" + reason.symbol +
               "`, which a later cell changed in place (it cannot be snapshotted)";
    case ReasonKind::OptedOut: return "it opts out of the cache (cache: false)";
    case ReasonKind::Volatile:
        return "it is volatile: it reads what changes between runs (the clock, the network, the file system, the "
               "environment or the working directory); `#| cache: true` opts it in";
    case ReasonKind::ChangesPackages: return "it changes the attached packages";
    case ReasonKind::ChangesOptions: return "it changes options()";
    case ReasonKind::ChangesWorkdir: return "it changes the working directory";
    case ReasonKind::ChangesEnvironment: return "it changes environment variables or the locale";
    case ReasonKind::RemovesEverything: return "it removes every variable";
    case ReasonKind::UnhashableRead:
        return "it cannot be cached (it reads a value the cache cannot hash, such as an environment or a connection)";
    case ReasonKind::ReachesOutside:
        return "it reaches outside R (" + reason.detail +
               "), which ripple cannot check, so it is never served from the cache";
    case ReasonKind::RewritesInput:
        return "it changes file " + reason.path + ", which it also reads, so it is never served from the cache";
    case ReasonKind::DoesNotParse: return "its code does not parse";
    case ReasonKind::ReadsRecomputed:
        return "it reads `" + reason.symbol + "`, which " + name(reason.cell) + " recomputes";
    case ReasonKind::KeyPartChanged: return reason.detail;
    case ReasonKind::NoMatchingEntry:
        return "no stored result matches its key (its last run failed, could not be stored, or was removed from the "
               "cache)";
    case ReasonKind::NotRunWithCache: return "it has not run with this cache";
    }
    return std::string();
}

std::string describe_all(const std::vector<Reason>& reasons, const CellNamer& name) {
    // Groups in the order of their first reason; within a group, each subject once, in order.
    std::vector<std::string> changed, stale_upstream, clauses;
    size_t changed_at = std::string::npos, upstream_at = std::string::npos;
    auto add_once = [](std::vector<std::string>& list, std::string item) {
        for (const auto& present : list) {
            if (present == item) return;
        }
        list.push_back(std::move(item));
    };
    for (const auto& reason : reasons) {
        if (is_changed_input(reason.kind)) {
            if (changed_at == std::string::npos) changed_at = clauses.size(), clauses.emplace_back();
            add_once(changed, changed_subject(reason));
        } else if (reason.kind == ReasonKind::UpstreamStale) {
            if (upstream_at == std::string::npos) upstream_at = clauses.size(), clauses.emplace_back();
            add_once(stale_upstream, name(reason.cell));
        } else {
            add_once(clauses, describe(reason, name));
        }
    }
    auto join = [](const std::vector<std::string>& items) {
        std::string text;
        for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
        return text;
    };
    if (changed_at != std::string::npos) clauses[changed_at] = join(changed) + " changed";
    if (upstream_at != std::string::npos) clauses[upstream_at] = "it reads from stale " + join(stale_upstream);
    std::string text;
    for (const auto& clause : clauses) text += (text.empty() ? "" : "; ") + clause;
    return text;
}

} // namespace ripple::dag
