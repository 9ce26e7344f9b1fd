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

bool NotebookOrder::remove(const std::string& id) {
    auto at = position(id);
    if (!at) return false;
    cells_.erase(cells_.begin() + static_cast<std::ptrdiff_t>(*at));
    ++revision_;
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
    ++revision_;
    if (auto at = position(id)) {
        cells_[*at].code = request.code;
    } else {
        size_t insert_at = cells_.size();
        if (last_executed_) {
            if (auto prev = position(*last_executed_)) insert_at = *prev + 1;
        }
        cells_.insert(cells_.begin() + static_cast<std::ptrdiff_t>(insert_at), Cell{id, request.code});
    }
    last_executed_ = id;
    return removed;
}

void NotebookOrder::replace_all(std::vector<Cell> cells) {
    cells_ = std::move(cells);
    ++revision_;
    if (last_executed_ && !position(*last_executed_)) last_executed_.reset();
}

} // namespace ripple::dag
