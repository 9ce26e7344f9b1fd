// run_support.cpp: path resolution, report writing and error wording shared by the notebook runner and the R
// Markdown renderer. Must not know about R or the engine.
#include "cli/run_support.hpp"

#include <cstdio>

#include "cli/atomic_file.hpp"
#include "cli/plain_text.hpp"

namespace ripple::cli {

namespace fs = std::filesystem;

ResolvedPaths resolve_paths(const RunRequest& request, const fs::path& default_output) {
    std::error_code ec;
    ResolvedPaths paths;
    paths.input = fs::absolute(request.input, ec).lexically_normal();
    if (!fs::exists(paths.input, ec)) throw InputError(request.input.string() + " does not exist.");
    if (fs::is_directory(paths.input, ec)) throw InputError(request.input.string() + " is a directory, not a file.");
    paths.output = fs::absolute(request.output ? *request.output : default_output, ec).lexically_normal();
    if (!fs::is_directory(paths.output.parent_path(), ec)) {
        throw InputError("cannot write " + paths.output.string() + ": the directory " +
                         paths.output.parent_path().string() + " does not exist.");
    }
    if (fs::is_directory(paths.output, ec))
        throw InputError("the output " + paths.output.string() + " is a directory.");
    if (request.cwd) {
        paths.working_dir = fs::absolute(*request.cwd, ec).lexically_normal();
        if (!fs::is_directory(paths.working_dir, ec)) {
            throw InputError("--cwd " + request.cwd->string() + " is not a directory.");
        }
    } else {
        paths.working_dir = paths.input.parent_path();
    }
    for (const auto& report : request.reports) {
        ReportRequest resolved = report;
        resolved.file = fs::absolute(report.file, ec).lexically_normal();
        if (!fs::is_directory(resolved.file.parent_path(), ec)) {
            throw InputError("cannot write the report " + report.file.string() + ": its directory does not exist.");
        }
        paths.reports.push_back(resolved);
    }
    return paths;
}

std::string cache_scope(const fs::path& document) {
    std::error_code ec;
    fs::path absolute = fs::absolute(document, ec).lexically_normal();
    fs::path resolved = fs::weakly_canonical(absolute, ec);
    return (ec ? absolute : resolved).string();
}

std::string human_size(std::uint64_t bytes) {
    static const char* units[] = {"B", "KB", "MB", "GB", "TB"};
    double value = static_cast<double>(bytes);
    size_t unit = 0;
    while (value >= 1024 && unit + 1 < sizeof units / sizeof units[0]) {
        value /= 1024;
        ++unit;
    }
    char text[32];
    if (unit == 0) std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
    else std::snprintf(text, sizeof text, value < 10 ? "%.1f %s" : "%.0f %s", value, units[unit]);
    return text;
}

void write_reports(const std::vector<ReportRequest>& reports, const RunRecord& record, Progress& progress) {
    for (const auto& report : reports) {
        try {
            write_file_atomically(report.file,
                                  report.kind == ReportKind::Json ? report_json(record) : report_junit(record));
        } catch (const FileError& e) {
            progress.error(std::string("run-notebook: ") + e.what());
        }
    }
}

const CellOutput* error_of(const std::vector<CellOutput>& outputs) {
    for (auto it = outputs.rbegin(); it != outputs.rend(); ++it) {
        if (it->kind == CellOutput::Kind::Error) return &*it;
    }
    return nullptr;
}

std::string describe_error(const CellOutput& error) {
    std::string text;
    if (error.traceback.empty()) {
        text = "  " + error.ename + ": " + error.evalue + "\n";
    } else {
        for (const auto& line : error.traceback) text += "  " + line + "\n";
    }
    return text;
}

CellOutput timeout_error(double seconds) {
    char limit[32];
    std::snprintf(limit, sizeof limit, "%g", seconds);
    std::string message = std::string("the cell ran longer than --timeout ") + limit + " s and was interrupted";
    return CellOutput::error("TimeoutError", message, {"Error: " + message});
}

std::string shorten(const std::string& text, size_t width) {
    // The first line that is not blank, without its indent. Cell option lines (`#| cache: false`) say nothing
    // about what the cell does: the first line after them, unless there is none.
    std::optional<std::string> first;
    for (const auto& raw : split_lines(text, false)) {
        size_t start = raw.find_first_not_of(" \t\r");
        if (start == std::string::npos) continue;
        first = raw.substr(start);
        if (first->compare(0, 2, "#|") != 0) break;
    }
    if (!first) return "(empty)";
    std::string line = *first;
    if (line.size() > width) {
        size_t cut = width - 1;
        while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut; // not inside a UTF-8 character
        line = line.substr(0, cut) + "\u2026";
    }
    return line;
}

std::optional<std::string> decode_base64(const std::string& text) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::string bytes;
    unsigned buffer = 0;
    int bits = 0;
    size_t padding = 0;
    for (char c : text) {
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
        if (c == '=') {
            ++padding;
            continue;
        }
        int v = value(c);
        if (v < 0 || padding > 0) return std::nullopt;
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes.push_back(static_cast<char>((buffer >> bits) & 0xFF));
        }
    }
    if (padding > 2) return std::nullopt;
    return bytes;
}

} // namespace ripple::cli
