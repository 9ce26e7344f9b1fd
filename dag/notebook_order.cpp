// notebook_order.cpp: document order bookkeeping for cells identified by id (SPEC section 2).
// Pure C++: must not know about R, Jupyter messages or sockets.
#include "notebook_order.hpp"

#include <algorithm>

namespace ripple::dag {

std::optional<size_t> NotebookOrder::position(const std::string& id) const {
    auto it = std::find_if(cells_.begin(), cells_.end(), [&](const Cell& c) { return c.id == id; });
    if (it == cells_.end()) return std::nullopt;
    return static_cast<size_t>(it - cells_.begin());
}

void NotebookOrder::changed(size_t from) {
    ++revision_;
    if (changes_.size() >= 256) changes_.erase(changes_.begin(), changes_.begin() + 128);
    changes_.emplace_back(revision_, from);
}

size_t NotebookOrder::changed_from(std::uint64_t revision) const {
    if (revision == revision_) return cells_.size();
    // The log must reach back to the revision right after `revision`.
    if (revision > revision_ || changes_.empty() || changes_.front().first > revision + 1) return 0;
    size_t from = cells_.size();
    for (auto change = changes_.rbegin(); change != changes_.rend() && change->first > revision; ++change)
        from = std::min(from, change->second);
    return from;
}

bool NotebookOrder::remove(const std::string& id) {
    auto at = position(id);
    if (!at) return false;
    cells_.erase(cells_.begin() + static_cast<std::ptrdiff_t>(*at));
    changed(*at);
    if (last_executed_ == id) last_executed_.reset();
    return true;
}

std::vector<std::string> NotebookOrder::record(const CellRequest& request) {
    std::vector<std::string> removed;
    for (const auto& id : request.deleted_cells) {
        if (id != request.cell_id && remove(id)) removed.push_back(id);
    }
    if (!request.cell_id) return removed; // anonymous: runs against current state, not tracked
    const std::string& id = *request.cell_id;
    if (auto at = position(id)) {
        // The same code again changes no position (still a new revision: the request may bring other metadata).
        changed(cells_[*at].code == request.code ? cells_.size() : *at);
        cells_[*at].code = request.code;
    } else {
        size_t insert_at = cells_.size();
        if (last_executed_) {
            if (auto prev = position(*last_executed_)) insert_at = *prev + 1;
        }
        cells_.insert(cells_.begin() + static_cast<std::ptrdiff_t>(insert_at), Cell{id, request.code});
        changed(insert_at);
    }
    last_executed_ = id;
    return removed;
}

void NotebookOrder::replace_all(std::vector<Cell> cells) {
    size_t same = 0;
    while (same < cells.size() && same < cells_.size() && cells[same].id == cells_[same].id &&
           cells[same].code == cells_[same].code)
        ++same;
    cells_ = std::move(cells);
    changed(same);
    if (last_executed_ && !position(*last_executed_)) last_executed_.reset();
}

} // namespace ripple::dag
