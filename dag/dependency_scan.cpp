// dependency_scan.cpp: reaching definitions, versions and staleness, each stale verdict with its Reason.
// Pure C++: must not know about R headers, Jupyter or sockets; it runs nothing.
#include "dag/dependency_scan.hpp"

#include <algorithm>

namespace ripple::dag {

Version package_token(const std::string& package) {
    return static_cast<Version>(std::hash<std::string>{}(package)) | (Version{1} << 63);
}

const std::set<std::string>& implicit_reads() {
    static const std::set<std::string> reads{kOptionsSymbol, kWorkdirSymbol, kEnvSymbol};
    return reads;
}

namespace {

// kGlobalsSymbol's version: a digest of (name, version) for every global bound, pseudo-symbols left out; the names
// come in order (std::map), so the same bindings give the same digest. Never kUnbound.
template <class Bindings, class ValueOf>
Version globals_version(const Bindings& bindings, ValueOf value_of) {
    std::uint64_t digest = 1469598103934665603ULL;
    auto mix = [&digest](std::uint64_t part) { digest = (digest ^ part) * 1099511628211ULL; };
    for (const auto& entry : bindings) {
        const std::string& name = entry.first;
        Version value = value_of(entry.second);
        if (name.empty() || name[0] == '@' || value == kUnbound) continue;
        mix(std::hash<std::string>{}(name));
        mix(value);
    }
    return digest == kUnbound ? 1 : digest;
}

} // namespace

const Execution* DependencyScan::last_execution(const std::string& id) const {
    auto found = executions_.find(id);
    return found == executions_.end() ? nullptr : &found->second;
}

const std::set<std::string>& DependencyScan::exports_of(const std::string& package) const {
    auto found = exports_.find(package);
    if (found != exports_.end()) return found->second;
    return exports_.emplace(package, runtime_.package_exports(package)).first->second;
}

std::optional<std::string> DependencyScan::file_digest(const std::string& path) const {
    return file_digests_.digest(path);
}

std::map<std::string, ValueId> DependencyScan::state_before(size_t position) const {
    std::map<std::string, ValueId> state;
    const auto& cells = order_.cells();
    for (size_t i = 0; i < position && i < cells.size(); ++i) {
        const Execution* execution = last_execution(cells[i].id);
        if (execution == nullptr) continue;
        for (const auto& [symbol, value] : execution->outputs) {
            if (value == kUnbound) state.erase(symbol);
            else state[symbol] = value;
        }
    }
    return state;
}

namespace {

// Removes the entries of `list` (ascending by position) at or below `from`.
template <class List, class PositionOf>
void drop_from(List& list, size_t from, PositionOf position_of) {
    while (!list.empty() && position_of(list.back()) >= from) list.pop_back();
}

} // namespace

const DependencyScan::Index& DependencyScan::index() const {
    if (index_.valid && index_.order_revision == order_.revision() && index_.executions == executions_.size() &&
        index_.analyses == analyses_.size()) {
        return index_;
    }
    // What each position holds now; the entries of the positions above the first that changed are kept.
    const auto& cells = order_.cells();
    std::vector<Index::Stamp> stamps;
    std::vector<const Execution*> runs;
    stamps.reserve(cells.size());
    runs.reserve(cells.size());
    for (const auto& cell : cells) {
        const Execution* execution = last_execution(cell.id);
        runs.push_back(execution);
        stamps.push_back(Index::Stamp{std::hash<std::string>{}(cell.id), std::hash<std::string>{}(cell.code),
                                      execution ? execution->serial : 0, analyses_.count(cell.code) > 0});
    }
    size_t unchanged = 0;
    while (unchanged < stamps.size() && unchanged < index_.stamps.size() &&
           stamps[unchanged] == index_.stamps[unchanged])
        ++unchanged;
    if (settled_.size() > unchanged) settled_.resize(unchanged);
    Index& at = index_;
    auto position = [](size_t i) { return i; };
    auto first = [](const auto& entry) { return entry.first; };
    for (auto entry = at.definers.begin(); entry != at.definers.end();) {
        drop_from(entry->second, unchanged, position);
        entry = entry->second.empty() ? at.definers.erase(entry) : std::next(entry);
    }
    for (auto entry = at.bound.begin(); entry != at.bound.end();) {
        drop_from(entry->second, unchanged, first);
        entry = entry->second.empty() ? at.bound.erase(entry) : std::next(entry);
    }
    drop_from(at.defining_attaches, unchanged, first);
    drop_from(at.executed_attaches, unchanged, first);
    for (size_t i = unchanged; i < cells.size(); ++i) {
        const Execution* execution = runs[i];
        if (execution != nullptr) {
            for (const auto& [symbol, value] : execution->outputs) at.bound[symbol].emplace_back(i, value);
            for (const auto& package : execution->attached) at.executed_attaches.emplace_back(i, package);
            // A file is defined by the cell whose last run wrote it, edited since or not: no parse can tell which
            // files code will write, and an edited writer is what its readers must wait for.
            for (const auto& path : execution->files_written) at.definers[kFilePrefix + path].push_back(i);
        }
        if (execution != nullptr && execution->code == cells[i].code) {
            for (const auto& [symbol, value] : execution->outputs) at.definers[symbol].push_back(i);
            for (const auto& package : execution->attached) at.defining_attaches.emplace_back(i, package);
        } else if (auto analysis = analyses_.find(cells[i].code); analysis != analyses_.end()) {
            // Never ran (or edited since): what its parser says it will define.
            for (const auto& symbol : analysis->second.defs) at.definers[symbol].push_back(i);
            for (const auto& package : analysis->second.attaches) at.defining_attaches.emplace_back(i, package);
        }
    }
    at.stamps = std::move(stamps);
    at.valid = true;
    at.order_revision = order_.revision();
    at.executions = executions_.size();
    at.analyses = analyses_.size();
    return at;
}

bool DependencyScan::settled(size_t position) const {
    index(); // forgets what changed since
    const auto& cells = order_.cells();
    while (settled_.size() <= position && settled_.size() < cells.size()) {
        const size_t at = settled_.size();
        const Execution* execution = last_execution(cells[at].id);
        bool settled = execution != nullptr && execution->code == cells[at].code && execution->files.empty() &&
                       !direct_staleness(at).stale;
        if (settled) {
            for (const auto& symbol : reads_of(at)) {
                auto source = reaching_definition(at, symbol);
                if (source && !settled_[*source]) {
                    settled = false;
                    break;
                }
            }
        }
        settled_.push_back(settled ? 1 : 0);
    }
    return position < settled_.size() && settled_[position] != 0;
}

const std::pair<size_t, std::string>*
DependencyScan::attach_exporting(const std::vector<std::pair<size_t, std::string>>& attaches, size_t position,
                                 std::optional<size_t> after, const std::string& symbol) const {
    for (auto attach = attaches.rbegin(); attach != attaches.rend(); ++attach) {
        if (attach->first >= position) continue;
        if (after && attach->first <= *after) break; // within one cell its own binding wins
        if (exports_of(attach->second).count(symbol)) return &*attach;
    }
    return nullptr;
}

Version DependencyScan::version_before(size_t position, const std::string& symbol) const {
    if (symbol == kGlobalsSymbol) return globals_version(state_before(position), [](ValueId value) { return value; });
    const Index& at = index();
    const std::pair<size_t, Version>* binding = nullptr;
    if (auto bound = at.bound.find(symbol); bound != at.bound.end()) {
        auto after =
            std::lower_bound(bound->second.begin(), bound->second.end(), position,
                             [](const std::pair<size_t, Version>& entry, size_t p) { return entry.first < p; });
        if (after != bound->second.begin()) binding = &*std::prev(after);
    }
    if (symbol.rfind(kFilePrefix, 0) != 0) {
        std::optional<size_t> bound_at = binding ? std::optional<size_t>(binding->first) : std::nullopt;
        if (const auto* attach = attach_exporting(at.executed_attaches, position, bound_at, symbol))
            return package_token(attach->second);
    }
    return binding ? binding->second : kUnbound;
}

std::optional<size_t> DependencyScan::reaching_definition(size_t position, const std::string& symbol) const {
    const Index& at = index();
    std::optional<size_t> definer;
    if (auto found = at.definers.find(symbol); found != at.definers.end()) {
        auto after = std::lower_bound(found->second.begin(), found->second.end(), position);
        if (after != found->second.begin()) definer = *std::prev(after);
    }
    if (symbol.rfind(kFilePrefix, 0) == 0) return definer;
    if (const auto* attach = attach_exporting(at.defining_attaches, position, definer, symbol)) return attach->first;
    return definer;
}

std::optional<std::string> DependencyScan::package_exporting(size_t position, const std::string& symbol) const {
    const Index& at = index();
    std::optional<size_t> bound_at;
    if (auto bound = at.bound.find(symbol); bound != at.bound.end()) {
        auto after =
            std::lower_bound(bound->second.begin(), bound->second.end(), position,
                             [](const std::pair<size_t, Version>& entry, size_t p) { return entry.first < p; });
        if (after != bound->second.begin()) bound_at = std::prev(after)->first;
    }
    if (const auto* attach = attach_exporting(at.executed_attaches, position, bound_at, symbol)) return attach->second;
    return std::nullopt;
}

std::set<std::string> DependencyScan::reads_of(size_t position) const {
    std::set<std::string> uses;
    const Cell& cell = order_.cells()[position];
    if (auto analysis = analyses_.find(cell.code); analysis != analyses_.end()) {
        uses = analysis->second.uses;
        for (const auto& path : analysis->second.files) uses.insert(kFilePrefix + path);
    }
    if (const Execution* execution = last_execution(cell.id))
        uses.insert(execution->uses.begin(), execution->uses.end());
    return uses;
}

Staleness DependencyScan::direct_staleness(size_t position) const {
    return direct_staleness(position, [&](const std::string& symbol) { return version_before(position, symbol); });
}

Staleness DependencyScan::direct_staleness(size_t position, const VersionOf& version_of) const {
    Staleness result;
    const Cell& cell = order_.cells()[position];
    const Execution* execution = last_execution(cell.id);
    if (execution == nullptr) {
        result.reasons.push_back(Reason(ReasonKind::NeverRan));
        result.stale = result.never_ran = true;
        return result;
    }
    if (execution->code != cell.code) {
        result.reasons.push_back(Reason(ReasonKind::CodeEdited));
        result.edited = true;
    }
    for (const auto& [symbol, version] : execution->inputs) {
        if (version_of(symbol) == version) continue;
        result.reasons.push_back(Reason::changed_input(symbol));
        result.changed.insert(symbol);
    }
    // A file it read changed on disk (hashed with a size + mtime fast path).
    for (const auto& [path, hash] : execution->files) {
        if (file_digest(path).value_or("missing") == hash) continue;
        result.reasons.push_back(Reason::file_changed(path));
        result.changed.insert(kFilePrefix + path);
    }
    result.stale = result.edited || !result.changed.empty();
    return result;
}

Staleness DependencyScan::staleness(size_t position) const {
    // Propagate through stale upstream cells (lazy mode leaves them stale until needed).
    std::vector<Staleness> all(position + 1);
    for (size_t i = 0; i <= position; ++i) {
        all[i] = direct_staleness(i);
        const Execution* execution = last_execution(order_.cells()[i].id);
        if (execution == nullptr) continue;
        for (const auto& symbol : execution->uses) {
            auto source = reaching_definition(i, symbol);
            if (!source || !all[*source].stale) continue;
            const std::string& source_id = order_.cells()[*source].id;
            if (last_execution(source_id) == nullptr) continue;
            if (all[i].stale_upstream.insert(source_id).second)
                all[i].reasons.push_back(Reason::upstream_stale(source_id));
            all[i].stale = true;
        }
    }
    return all[position];
}

void DependencyScan::add_reads_from_stale(size_t position, const std::vector<std::string>& stale_ids,
                                          Staleness& staleness) const {
    const Execution* execution = last_execution(order_.cells()[position].id);
    if (execution == nullptr || stale_ids.empty()) return;
    for (const auto& symbol : execution->uses) {
        auto source = reaching_definition(position, symbol);
        if (!source || std::find(stale_ids.begin(), stale_ids.end(), order_.cells()[*source].id) == stale_ids.end()) {
            continue;
        }
        if (staleness.changed.insert(symbol).second) staleness.reasons.push_back(Reason::changed_input(symbol));
        staleness.stale = true;
    }
}

std::vector<EdgeInfo> DependencyScan::edges() const {
    std::map<std::pair<std::string, std::string>, std::set<std::string>> grouped;
    const auto& cells = order_.cells();
    for (size_t i = 0; i < cells.size(); ++i) {
        for (const auto& symbol : reads_of(i)) {
            if (auto source = reaching_definition(i, symbol)) grouped[{cells[*source].id, cells[i].id}].insert(symbol);
        }
    }
    std::vector<EdgeInfo> result;
    for (auto& [ends, symbols] : grouped) result.push_back(EdgeInfo{ends.first, ends.second, std::move(symbols)});
    return result;
}

} // namespace ripple::dag
