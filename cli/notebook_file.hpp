// notebook_file.hpp: a Jupyter notebook (nbformat 4) as run-notebook reads and writes it: checks, upgrade to 4.5
// with cell ids, parameter injection, outputs, execution counts and timing. Pure C++: no R, no engine.
#pragma once

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cell_output.hpp"

namespace ripple::cli {

// The notebook cannot be run as it is: one sentence naming the file (and the cell, when there is one).
class NotebookError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// When one cell ran, as nbclient records it in cell.metadata.execution (ISO 8601 UTC).
struct CellTiming {
    std::string started;  // iopub.status.busy, iopub.execute_input
    std::string finished; // shell.execute_reply, iopub.status.idle
    double seconds = 0;
    bool from_cache = false;
};

class NotebookFile {
public:
    // Parses and checks `text`; `name` is used in error messages. Missing or invalid cell ids are replaced
    // (see repairs()), a notebook below 4.5 is upgraded. Throws NotebookError.
    static NotebookFile parse(const std::string& text, const std::string& name);

    // nbformat's own layout: one-space indent, sorted keys, multi-line strings as lists of lines.
    std::string serialize() const;

    size_t cell_count() const;
    bool is_code(size_t index) const;
    std::string source(size_t index) const;
    std::string id(size_t index) const;
    std::set<std::string> tags(size_t index) const;
    // What was changed while reading (ids added or replaced), one sentence each.
    const std::vector<std::string>& repairs() const { return repairs_; }

    // Puts `code` in a code cell tagged "injected-parameters": replacing such a cell if there is one, else
    // after the cell tagged "parameters", else first. Returns its index; `after_parameters_cell` says where.
    size_t inject_parameters(const std::string& code, bool& after_parameters_cell);

    void set_outputs(size_t index, const std::vector<CellOutput>& outputs, std::optional<int> execution_count,
                     const CellTiming& timing);
    void clear_outputs(size_t index);

    // kernelspec (if absent) and language_info describe the R that ran the notebook.
    void set_language(const std::string& r_version);
    void set_run_metadata(const nlohmann::json& run);

    const nlohmann::json& document() const { return doc_; }

private:
    nlohmann::json doc_;
    std::vector<std::string> repairs_;
    std::string name_;
};

// nbformat's output JSON for one cell output (multi-line text as lists of lines).
nlohmann::json to_nbformat_output(const CellOutput& output, std::optional<int> execution_count);

// "a\nb" -> ["a\n", "b"], as nbformat splits multi-line strings.
nlohmann::json split_lines(const std::string& text);
// A multi-line string of nbformat (a string or a list of strings) joined; nullopt if it is neither.
std::optional<std::string> joined_text(const nlohmann::json& value);
// An nbformat cell id: 1 to 64 of [A-Za-z0-9-_].
bool is_valid_cell_id(const std::string& id);

} // namespace ripple::cli
