// cell_output.hpp: what one cell produced, in order, as run-notebook keeps it (streams, displays, the result, the error)
// and the exit codes of run-notebook. Pure C++: must not know about R, the engine or any file format.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ripple::cli {

enum class ExitCode : int { Ok = 0, CellFailed = 1, BadInput = 2, Timeout = 3, Internal = 4 };

struct CellOutput {
    enum class Kind { Stream, Display, Result, Error };
    Kind kind = Kind::Stream;
    std::string stream;                                 // "stdout" or "stderr" (Stream)
    std::string text;                                   // Stream text
    nlohmann::json data = nlohmann::json::object();     // mime type -> content (Display, Result)
    nlohmann::json metadata = nlohmann::json::object(); // per-mime metadata (Display, Result)
    std::string ename, evalue;                          // Error
    std::vector<std::string> traceback;                 // Error: the first line reads like R's console
    std::string display_id;                             // Display: set when R may update it later (not written)

    static CellOutput stream_text(std::string name, std::string text) {
        CellOutput out;
        out.kind = Kind::Stream;
        out.stream = std::move(name);
        out.text = std::move(text);
        return out;
    }
    static CellOutput error(std::string ename, std::string evalue, std::vector<std::string> traceback) {
        CellOutput out;
        out.kind = Kind::Error;
        out.ename = std::move(ename);
        out.evalue = std::move(evalue);
        out.traceback = std::move(traceback);
        return out;
    }
};

// How a cell's run ended, as reports and progress lines say it.
enum class CellStatus { Ok, Error, Timeout, Interrupted, Skipped, NotRun };

inline const char* status_name(CellStatus status) {
    switch (status) {
    case CellStatus::Ok: return "ok";
    case CellStatus::Error: return "error";
    case CellStatus::Timeout: return "timeout";
    case CellStatus::Interrupted: return "interrupted";
    case CellStatus::Skipped: return "skipped";
    case CellStatus::NotRun: return "not-run";
    }
    return "unknown";
}

} // namespace ripple::cli
