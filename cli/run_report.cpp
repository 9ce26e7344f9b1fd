// run_report.cpp: RunRecord as JSON (everything) and as JUnit XML (one testcase per cell, failures and skips).
// Pure C++: must not know about R, the engine or notebook files.
#include "cli/run_report.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace ripple::cli {

using nlohmann::json;

namespace {

std::string xml_escape(const std::string& text) {
    std::string out;
    for (unsigned char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default:
            // XML 1.0 allows no control characters but tab, newline and carriage return (ANSI colours, \f, ...).
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') out += "?";
            else out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

std::string seconds_text(double seconds) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.3f", seconds);
    return buffer;
}

const char* exit_name(ExitCode code) {
    switch (code) {
    case ExitCode::Ok: return "ok";
    case ExitCode::CellFailed: return "cell-failed";
    case ExitCode::BadInput: return "bad-input";
    case ExitCode::Timeout: return "timeout";
    case ExitCode::Internal: return "internal-error";
    }
    return "unknown";
}

} // namespace

std::string r_start_note(const RunRecord& run) {
    if (!run.r_started) return ", R not started";
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.2f", run.r_start_seconds);
    return std::string(", R started in ") + seconds + " s";
}

std::string iso_timestamp_now() {
    auto now = std::chrono::system_clock::now();
    std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<long long>(micros));
    return buffer;
}

std::string report_json(const RunRecord& run) {
    json cells = json::array();
    for (const auto& cell : run.cells) {
        json item = {{"position", cell.position},
                     {"id", cell.id},
                     {"label", cell.label},
                     {"status", status_name(cell.status)},
                     {"duration_s", cell.seconds},
                     {"from_cache", cell.from_cache},
                     {"execution_count", cell.execution_count ? json(*cell.execution_count) : json(nullptr)}};
        if (cell.line > 0) item["line"] = cell.line;
        if (cell.error) {
            item["error"] = {
                {"ename", cell.error->ename}, {"evalue", cell.error->evalue}, {"traceback", cell.error->traceback}};
        }
        cells.push_back(item);
    }
    size_t ran = 0, failed = 0, skipped = 0, cached = 0;
    for (const auto& cell : run.cells) {
        if (cell.status == CellStatus::Ok || cell.status == CellStatus::Error || cell.status == CellStatus::Timeout)
            ++ran;
        if (cell.status == CellStatus::Error || cell.status == CellStatus::Timeout) ++failed;
        if (cell.status == CellStatus::Skipped) ++skipped;
        if (cell.from_cache) ++cached;
    }
    json report = {
        {"input", run.input},
        {"output", run.output},
        {"kind", run.kind},
        {"status", exit_name(run.exit_code)},
        {"exit_code", static_cast<int>(run.exit_code)},
        {"message", run.message},
        {"started", run.started},
        {"duration_s", run.seconds},
        {"counts",
         {{"cells", run.cells.size()}, {"ran", ran}, {"failed", failed}, {"skipped", skipped}, {"from_cache", cached}}},
        {"cache",
         {{"enabled", run.cache.enabled},
          {"force", run.cache.force},
          {"dir", run.cache.dir.string()},
          {"available", run.cache_available}}},
        {"r_started", run.r_started},
        {"r_start_s", run.r_started ? json(run.r_start_seconds) : json(nullptr)},
        {"html_from_cache", run.html_from_cache},
        {"cells", cells}};
    return report.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string report_junit(const RunRecord& run) {
    size_t failures = 0, skipped = 0, errors = 0;
    for (const auto& cell : run.cells) {
        if (cell.status == CellStatus::Error) ++failures;
        if (cell.status == CellStatus::Timeout || cell.status == CellStatus::Interrupted) ++errors;
        if (cell.status == CellStatus::Skipped || cell.status == CellStatus::NotRun) ++skipped;
    }
    std::string suite = xml_escape(run.input);
    std::string counts = " tests=\"" + std::to_string(run.cells.size()) + "\" failures=\"" + std::to_string(failures) +
                         "\" errors=\"" + std::to_string(errors) + "\" skipped=\"" + std::to_string(skipped) +
                         "\" time=\"" + seconds_text(run.seconds) + "\"";
    std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    xml += "<testsuites name=\"run-notebook\"" + counts + ">\n";
    xml += "  <testsuite name=\"" + suite + "\"" + counts + " timestamp=\"" + xml_escape(run.started) + "\">\n";
    for (const auto& cell : run.cells) {
        std::string name = "[" + std::to_string(cell.position) + "] " + cell.id;
        if (!cell.label.empty()) name += ": " + cell.label;
        xml += "    <testcase classname=\"" + suite + "\" name=\"" + xml_escape(name) + "\" time=\"" +
               seconds_text(cell.seconds) + "\"";
        std::string body;
        if (cell.status == CellStatus::Error || cell.status == CellStatus::Timeout ||
            cell.status == CellStatus::Interrupted) {
            const char* tag = cell.status == CellStatus::Error ? "failure" : "error";
            std::string ename = cell.error ? cell.error->ename : status_name(cell.status);
            std::string evalue = cell.error ? cell.error->evalue : "";
            std::string trace;
            if (cell.error) {
                for (const auto& line : cell.error->traceback) trace += line + "\n";
            }
            body = std::string("      <") + tag + " type=\"" + xml_escape(ename) + "\" message=\"" +
                   xml_escape(evalue) + "\">" + xml_escape(trace) + "</" + tag + ">\n";
        } else if (cell.status == CellStatus::Skipped) {
            body = "      <skipped message=\"skipped (skip-execution tag, eval=FALSE or empty)\"/>\n";
        } else if (cell.status == CellStatus::NotRun) {
            body = "      <skipped message=\"not run: an earlier cell stopped the run\"/>\n";
        }
        if (body.empty()) {
            xml += "/>\n";
        } else {
            xml += ">\n" + body + "    </testcase>\n";
        }
    }
    xml += "  </testsuite>\n</testsuites>\n";
    return xml;
}

} // namespace ripple::cli
