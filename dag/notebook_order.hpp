// notebook_order.hpp: the kernel's view of a notebook's cells and their document order (SPEC section 2).
// Pure C++: must not know about R, Jupyter messages or sockets.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ripple::dag {

struct Cell {
    std::string id;
    std::string code;
};

// What one execution told us about the notebook (from JupyterLab's execute_request metadata).
struct CellRequest {
    std::string code;
    std::optional<std::string> cell_id;     // absent: an anonymous request, not a notebook cell
    std::vector<std::string> deleted_cells; // ids deleted since the last execution
    // Options of the cell that change what evaluation produces (R Markdown chunk options such as
    // fig.width, dpi, error): part of its cache key. Presentation options do not matter.
    std::map<std::string, std::string> options = {};
};

// Stock front ends never send the order of cells, so the kernel keeps its own: a new id goes right
// after the cell executed before it (the top-to-bottom habit); deletions remove cells; a front end
// that knows the real order replaces the whole view (replace_all).
class NotebookOrder {
public:
    // Records an execution; returns the ids that were removed because the request said so.
    std::vector<std::string> record(const CellRequest& request);
    void replace_all(std::vector<Cell> cells);
    bool remove(const std::string& id);

    const std::vector<Cell>& cells() const { return cells_; }
    std::optional<size_t> position(const std::string& id) const;
    const std::optional<std::string>& last_executed() const { return last_executed_; }
    // Counts changes of cells or code: equal revisions mean the same document.
    std::uint64_t revision() const { return revision_; }
    // The first position whose cell (id or code) may differ from what it held at `revision`: cells().size() when
    // none does, 0 when `revision` is too old to tell. Lets the scan rebuild only below a change.
    size_t changed_from(std::uint64_t revision) const;

private:
    // Bumps the revision, noting that positions from `from` on may hold other cells now.
    void changed(size_t from);

    std::vector<Cell> cells_;
    std::uint64_t revision_ = 0;
    std::vector<std::pair<std::uint64_t, size_t>> changes_; // (revision, first position changed), the latest few
    std::optional<std::string> last_executed_;
};

} // namespace ripple::dag
