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

std::shared_ptr<const DependencyScan::State> DependencyScan::state_at(size_t position) const {
    index(); // forgets the memo when a change reaches above it
    const auto& cells = order_.cells();
    position = std::min(position, cells.size());
    StateMemo& memo = state_memo_;
    if (memo.valid && memo.position == position) return memo.state;
    // The log of changed names is bounded: past it, a recomputation (every restore walks every name once).
    constexpr size_t kMaxLoggedChanges = 1 << 16;
    if (!memo.valid || memo.position > position || memo.state == nullptr || memo.changed.size() > kMaxLoggedChanges) {
        memo.state = std::make_shared<State>();
        memo.position = 0;
        memo.valid = true;
        ++memo.generation;
        memo.changed.clear();
    } else if (memo.state.use_count() > 1) {
        memo.state = std::make_shared<State>(*memo.state);
    }
    State& state = *memo.state;
    for (size_t& i = memo.position; i < position; ++i) {
        const Execution* execution = last_execution(cells[i].id);
        if (execution == nullptr) continue;
        for (const auto& [symbol, value] : execution->outputs) {
            if (value == kUnbound) state.erase(symbol);
            else state[symbol] = value;
            memo.changed.push_back(symbol);
        }
    }
    return memo.state;
}

std::optional<std::set<std::string>> DependencyScan::changed_since(const StateMark& mark) const {
    const StateMemo& memo = state_memo_;
    if (!memo.valid || memo.generation != mark.generation || memo.changed.size() < mark.changes) return std::nullopt;
    return std::set<std::string>(memo.changed.begin() + static_cast<std::ptrdiff_t>(mark.changes), memo.changed.end());
}

namespace {

// Removes the entries of `list` (ascending by position) at or below `from`.
template <class List, class PositionOf>
void drop_from(List& list, size_t from, PositionOf position_of) {
    while (!list.empty() && position_of(list.back()) >= from) list.pop_back();
}

} // namespace

size_t DependencyScan::first_changed() const {
    const auto& cells = order_.cells();
    const Index& at = index_;
    // Executions added or removed without a word (executed() names those the engine keeps; removed cells' go with
    // their positions), or analyses forgotten: compare every position.
    if (!at.valid || (executions_.size() != at.executions && at.executed.empty()) || analyses_.size() < at.analyses)
        return 0;
    size_t from = std::min({order_.changed_from(at.order_revision), at.stamps.size(), cells.size()});
    for (const auto& id : at.executed) {
        if (from == 0) break;
        if (auto p = order_.position(id)) from = std::min(from, *p);
    }
    if (analyses_.size() != at.analyses) {
        for (size_t p : at.unanalyzed) {
            if (p >= from) break;
            if (analyses_.count(cells[p].code)) from = p;
        }
    }
    return from;
}

const DependencyScan::Index& DependencyScan::index() const {
    if (index_.valid && index_.order_revision == order_.revision() && index_.executions == executions_.size() &&
        index_.analyses == analyses_.size() && index_.executed.empty()) {
        return index_;
    }
    const auto& cells = order_.cells();
    Index& at = index_;
    // The first position that may hold something else: from the change log and the announced executions when
    // they account for every change, else by comparing what every position holds now with its stamp.
    size_t unchanged = first_changed();
    std::vector<Index::Stamp> stamps;
    auto stamp_of = [&](size_t i) {
        const Execution* execution = last_execution(cells[i].id);
        return Index::Stamp{std::hash<std::string>{}(cells[i].id), std::hash<std::string>{}(cells[i].code),
                            execution ? execution->serial : 0, analyses_.count(cells[i].code) > 0};
    };
    if (unchanged == 0) {
        stamps.reserve(cells.size());
        for (size_t i = 0; i < cells.size(); ++i) stamps.push_back(stamp_of(i));
        while (unchanged < stamps.size() && unchanged < at.stamps.size() && stamps[unchanged] == at.stamps[unchanged])
            ++unchanged;
    } else {
        stamps = std::move(at.stamps);
        stamps.resize(unchanged);
        for (size_t i = unchanged; i < cells.size(); ++i) stamps.push_back(stamp_of(i));
    }
    if (settled_.size() > unchanged) settled_.resize(unchanged);
    if (state_memo_.position > unchanged) state_memo_.valid = false;
    // Drop the entries of the positions from `unchanged` on (their lists only), then add those of the cells there.
    auto position = [](size_t i) { return i; };
    auto first = [](const auto& entry) { return entry.first; };
    for (size_t i = unchanged; i < at.definer_lists.size(); ++i) {
        for (auto* list : at.definer_lists[i]) drop_from(*list, unchanged, position);
    }
    for (size_t i = unchanged; i < at.bound_lists.size(); ++i) {
        for (auto* list : at.bound_lists[i]) drop_from(*list, unchanged, first);
    }
    if (at.definer_lists.size() > unchanged) at.definer_lists.resize(unchanged);
    if (at.bound_lists.size() > unchanged) at.bound_lists.resize(unchanged);
    drop_from(at.defining_attaches, unchanged, first);
    drop_from(at.executed_attaches, unchanged, first);
    drop_from(at.unanalyzed, unchanged, position);
    at.definer_lists.resize(cells.size());
    at.bound_lists.resize(cells.size());
    for (size_t i = unchanged; i < cells.size(); ++i) {
        const Execution* execution = last_execution(cells[i].id);
        auto define = [&](const std::string& symbol) {
            auto& list = at.definers[symbol];
            list.push_back(i);
            at.definer_lists[i].push_back(&list);
        };
        if (execution != nullptr) {
            for (const auto& [symbol, value] : execution->outputs) {
                auto& list = at.bound[symbol];
                list.emplace_back(i, value);
                at.bound_lists[i].push_back(&list);
            }
            for (const auto& package : execution->attached) at.executed_attaches.emplace_back(i, package);
            // A file is defined by the cell whose last run wrote it, edited since or not: no parse can tell which
            // files code will write, and an edited writer is what its readers must wait for.
            for (const auto& path : execution->files_written) define(kFilePrefix + path);
        }
        if (execution != nullptr && execution->code == cells[i].code) {
            for (const auto& [symbol, value] : execution->outputs) define(symbol);
            for (const auto& package : execution->attached) at.defining_attaches.emplace_back(i, package);
        } else if (auto analysis = analyses_.find(cells[i].code); analysis != analyses_.end()) {
            // Never ran (or edited since): what its parser says it will define.
            for (const auto& symbol : analysis->second.defs) define(symbol);
            for (const auto& package : analysis->second.attaches) at.defining_attaches.emplace_back(i, package);
        }
        if (!stamps[i].analyzed) at.unanalyzed.push_back(i);
    }
    at.stamps = std::move(stamps);
    at.valid = true;
    at.order_revision = order_.revision();
    at.executions = executions_.size();
    at.analyses = analyses_.size();
    at.executed.clear();
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
