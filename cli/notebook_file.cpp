// notebook_file.cpp: nbformat 4 reading (with one-sentence errors), upgrade to 4.5 ids, and writing outputs and
// timing the way Jupyter writes them. Pure C++: must not know about R or the engine.
#include "cli/notebook_file.hpp"

#include "cli/plain_text.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <random>

namespace ripple::cli {

using nlohmann::json;

namespace {

// Line and column of a byte offset, for JSON syntax errors.
std::pair<size_t, size_t> line_column(const std::string& text, size_t offset) {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return {line, column};
}

std::string fresh_id(const std::set<std::string>& taken) {
    static std::mt19937_64 generator{std::random_device{}()};
    static const char* hex = "0123456789abcdef";
    for (;;) {
        std::string id;
        std::uint64_t bits = generator();
        for (int i = 0; i < 8; ++i) id.push_back(hex[(bits >> (4 * i)) & 0xf]);
        if (!taken.count(id)) return id;
    }
}

bool is_text_mime(const std::string& mime) {
    return mime.rfind("text/", 0) == 0 || mime == "application/javascript" || mime == "image/svg+xml";
}

json split_bundle(const json& data) {
    json out = json::object();
    for (const auto& [mime, value] : data.items()) {
        out[mime] = value.is_string() && is_text_mime(mime) ? split_lines(value.get<std::string>()) : value;
    }
    return out;
}

std::string cell_name(size_t index, const json& cell) {
    std::string name = "cell " + std::to_string(index + 1);
    if (cell.is_object() && cell.contains("id") && cell["id"].is_string())
        name += " (id " + cell["id"].get<std::string>() + ")";
    return name;
}

} // namespace

json split_lines(const std::string& text) {
    json lines = json::array();
    for (auto& line : split_lines(text, true)) lines.push_back(std::move(line));
    return lines;
}

std::optional<std::string> joined_text(const json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (!value.is_array()) return std::nullopt;
    std::string text;
    for (const auto& line : value) {
        if (!line.is_string()) return std::nullopt;
        text += line.get<std::string>();
    }
    return text;
}

bool is_valid_cell_id(const std::string& id) {
    if (id.empty() || id.size() > 64) return false;
    return std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

NotebookFile NotebookFile::parse(const std::string& text, const std::string& name) {
    NotebookFile notebook;
    notebook.name_ = name;
    try {
        notebook.doc_ = json::parse(text);
    } catch (const json::parse_error& e) {
        auto [line, column] = line_column(text, e.byte > 0 ? e.byte - 1 : 0);
        throw NotebookError(name + " is not valid JSON (line " + std::to_string(line) + ", column " +
                            std::to_string(column) + "), so it is not a notebook.");
    }
    json& doc = notebook.doc_;
    if (!doc.is_object() || !doc.contains("cells") || !doc.contains("nbformat")) {
        throw NotebookError(name + " is JSON but not a Jupyter notebook (it has no \"cells\" and \"nbformat\").");
    }
    if (!doc["nbformat"].is_number_integer()) throw NotebookError(name + " has a non-integer \"nbformat\".");
    int major = doc["nbformat"].get<int>();
    if (major != 4) {
        throw NotebookError(
            name + " is an nbformat " + std::to_string(major) +
            " notebook; run-notebook reads nbformat 4 (convert it with jupyter nbconvert --to notebook).");
    }
    if (!doc["cells"].is_array()) throw NotebookError(name + " has \"cells\" that is not a list.");
    if (!doc.contains("metadata") || !doc["metadata"].is_object()) doc["metadata"] = json::object();
    int minor = doc.contains("nbformat_minor") && doc["nbformat_minor"].is_number_integer()
                    ? doc["nbformat_minor"].get<int>()
                    : 0;

    // The notebook must be R (or say nothing about its language).
    const json& metadata = doc["metadata"];
    auto language_of = [](const json& object, const char* key) -> std::string {
        if (!object.is_object() || !object.contains(key) || !object[key].is_string()) return "";
        std::string value = object[key];
        std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) { return std::tolower(c); });
        return value;
    };
    std::string language = language_of(metadata.value("kernelspec", json::object()), "language");
    if (language.empty()) language = language_of(metadata.value("language_info", json::object()), "name");
    if (!language.empty() && language != "r") {
        throw NotebookError(name + " is a " + language + " notebook; run-notebook runs R notebooks only.");
    }

    std::set<std::string> taken;
    for (size_t i = 0; i < doc["cells"].size(); ++i) {
        json& cell = doc["cells"][i];
        if (!cell.is_object()) throw NotebookError(name + ": cell " + std::to_string(i + 1) + " is not a JSON object.");
        if (!cell.contains("cell_type") || !cell["cell_type"].is_string()) {
            throw NotebookError(name + ": " + cell_name(i, cell) + " has no cell_type.");
        }
        std::string type = cell["cell_type"];
        if (type != "code" && type != "markdown" && type != "raw") {
            throw NotebookError(name + ": " + cell_name(i, cell) + " has the unknown cell_type \"" + type + "\".");
        }
        if (!cell.contains("source")) cell["source"] = json::array();
        if (!joined_text(cell["source"])) {
            throw NotebookError(name + ": the source of " + cell_name(i, cell) +
                                " is neither a string nor a list of strings.");
        }
        if (!cell.contains("metadata") || !cell["metadata"].is_object()) cell["metadata"] = json::object();
        if (type == "code") {
            if (!cell.contains("outputs") || !cell["outputs"].is_array()) cell["outputs"] = json::array();
            if (!cell.contains("execution_count")) cell["execution_count"] = nullptr;
        } else {
            cell.erase("outputs");
            cell.erase("execution_count");
        }
        std::string id = cell.contains("id") && cell["id"].is_string() ? cell["id"].get<std::string>() : "";
        if (!is_valid_cell_id(id) || taken.count(id)) {
            std::string replacement = fresh_id(taken);
            if (cell.contains("id")) {
                std::string why = taken.count(id) ? "repeats an earlier cell's id" : "is not a valid cell id";
                notebook.repairs_.push_back("cell " + std::to_string(i + 1) + ": id \"" + id + "\" " + why +
                                            "; it is now \"" + replacement + "\".");
            }
            id = replacement;
            cell["id"] = id;
        }
        taken.insert(id);
    }
    if (minor < 5) {
        notebook.repairs_.push_back("upgraded from nbformat 4." + std::to_string(minor) + " to 4.5 (cell ids added).");
        doc["nbformat_minor"] = 5;
    }
    return notebook;
}

std::string NotebookFile::serialize() const {
    json doc = doc_;
    for (auto& cell : doc["cells"]) {
        cell["source"] = split_lines(*joined_text(cell["source"]));
        if (!cell.contains("outputs")) continue;
        for (auto& output : cell["outputs"]) {
            if (!output.is_object()) continue;
            if (output.contains("text")) {
                if (auto text = joined_text(output["text"])) output["text"] = split_lines(*text);
            }
            if (output.contains("data") && output["data"].is_object()) {
                json data = json::object();
                for (const auto& [mime, value] : output["data"].items()) {
                    auto text = is_text_mime(mime) ? joined_text(value) : std::nullopt;
                    data[mime] = text ? split_lines(*text) : value;
                }
                output["data"] = data;
            }
        }
    }
    return doc.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

size_t NotebookFile::cell_count() const { return doc_["cells"].size(); }

bool NotebookFile::is_code(size_t index) const { return doc_["cells"][index]["cell_type"] == "code"; }

std::string NotebookFile::source(size_t index) const { return *joined_text(doc_["cells"][index]["source"]); }

std::string NotebookFile::id(size_t index) const { return doc_["cells"][index]["id"]; }

std::set<std::string> NotebookFile::tags(size_t index) const {
    std::set<std::string> tags;
    const json& metadata = doc_["cells"][index]["metadata"];
    if (!metadata.contains("tags") || !metadata["tags"].is_array()) return tags;
    for (const auto& tag : metadata["tags"]) {
        if (tag.is_string()) tags.insert(tag.get<std::string>());
    }
    return tags;
}

size_t NotebookFile::inject_parameters(const std::string& code, bool& after_parameters_cell) {
    json& cells = doc_["cells"];
    std::optional<size_t> parameters_cell, injected_cell;
    for (size_t i = 0; i < cells.size(); ++i) {
        std::set<std::string> cell_tags = tags(i);
        if (cell_tags.count("injected-parameters") && !injected_cell) injected_cell = i;
        else if (cell_tags.count("parameters") && !parameters_cell) parameters_cell = i;
    }
    after_parameters_cell = parameters_cell.has_value();
    std::set<std::string> taken;
    for (const auto& cell : cells) taken.insert(cell["id"].get<std::string>());
    json cell = {{"cell_type", "code"},
                 {"execution_count", nullptr},
                 {"metadata", {{"tags", json::array({"injected-parameters"})}}},
                 {"outputs", json::array()},
                 {"source", code}};
    if (injected_cell) {
        cell["id"] = cells[*injected_cell]["id"];
        cells[*injected_cell] = cell;
        return *injected_cell;
    }
    cell["id"] = taken.count("injected-parameters") ? fresh_id(taken) : std::string("injected-parameters");
    size_t at = parameters_cell ? *parameters_cell + 1 : 0;
    cells.insert(cells.begin() + static_cast<std::ptrdiff_t>(at), cell);
    return at;
}

json to_nbformat_output(const CellOutput& output, std::optional<int> execution_count) {
    switch (output.kind) {
    case CellOutput::Kind::Stream: return {{"output_type", "stream"}, {"name", output.stream}, {"text", output.text}};
    case CellOutput::Kind::Display:
        return {{"output_type", "display_data"}, {"data", split_bundle(output.data)}, {"metadata", output.metadata}};
    case CellOutput::Kind::Result: {
        json result = {
            {"output_type", "execute_result"}, {"data", split_bundle(output.data)}, {"metadata", output.metadata}};
        result["execution_count"] = execution_count ? json(*execution_count) : json(nullptr);
        return result;
    }
    case CellOutput::Kind::Error:
        return {{"output_type", "error"},
                {"ename", output.ename},
                {"evalue", output.evalue},
                {"traceback", output.traceback}};
    }
    return json::object();
}

void NotebookFile::set_outputs(size_t index, const std::vector<CellOutput>& outputs, std::optional<int> execution_count,
                               const CellTiming& timing) {
    json& cell = doc_["cells"][index];
    json list = json::array();
    for (const auto& output : outputs) {
        json item = to_nbformat_output(output, execution_count);
        // Consecutive text on one stream is one output, as Jupyter front ends keep it.
        if (output.kind == CellOutput::Kind::Stream && !list.empty() && list.back()["output_type"] == "stream" &&
            list.back()["name"] == output.stream) {
            list.back()["text"] = list.back()["text"].get<std::string>() + output.text;
            continue;
        }
        list.push_back(item);
    }
    cell["outputs"] = list;
    cell["execution_count"] = execution_count ? json(*execution_count) : json(nullptr);
    cell["metadata"]["execution"] = {{"iopub.status.busy", timing.started},
                                     {"iopub.execute_input", timing.started},
                                     {"shell.execute_reply", timing.finished},
                                     {"iopub.status.idle", timing.finished}};
    cell["metadata"]["ripple"] = {{"duration_s", timing.seconds}, {"from_cache", timing.from_cache}};
}

void NotebookFile::clear_outputs(size_t index) {
    json& cell = doc_["cells"][index];
    if (cell["cell_type"] != "code") return;
    cell["outputs"] = json::array();
    cell["execution_count"] = nullptr;
    cell["metadata"].erase("execution");
    cell["metadata"].erase("ripple");
}

void NotebookFile::set_language(const std::string& r_version) {
    json& metadata = doc_["metadata"];
    if (!metadata.contains("kernelspec") || !metadata["kernelspec"].is_object()) {
        metadata["kernelspec"] = {{"display_name", "R (ripple)"}, {"language", "R"}, {"name", "ripple"}};
    }
    metadata["language_info"] = {{"codemirror_mode", "r"},        {"file_extension", ".r"},
                                 {"mimetype", "text/x-r-source"}, {"name", "R"},
                                 {"pygments_lexer", "r"},         {"version", r_version}};
}

void NotebookFile::set_run_metadata(const json& run) { doc_["metadata"]["ripple"] = run; }

} // namespace ripple::cli
