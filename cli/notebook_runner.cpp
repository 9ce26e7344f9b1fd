// notebook_runner.cpp: the notebook front door: cells to run (tags, empty cells), parameters, outputs and timing
// into the notebook, stop rules (errors, timeout, signals), atomic write and reports. No engine logic.
#include "cli/notebook_runner.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <set>

#include <unistd.h>

#include "cli/atomic_file.hpp"
#include "cli/engine_session.hpp"
#include "cli/notebook_file.hpp"
#include "cli/plain_text.hpp"
#include "cli/run_support.hpp"

namespace ripple::cli {

namespace fs = std::filesystem;

namespace {

std::string output_text(const CellOutput& output) {
    switch (output.kind) {
    case CellOutput::Kind::Stream: return output.text;
    case CellOutput::Kind::Display:
    case CellOutput::Kind::Result:
        if (output.data.contains("text/plain") && output.data["text/plain"].is_string()) {
            return output.data["text/plain"].get<std::string>() + "\n";
        }
        return "";
    case CellOutput::Kind::Error: return describe_error(output);
    }
    return "";
}

// Everything one run writes: the notebook being filled in and the report, guarded for the watchdog's last words.
class NotebookRun {
public:
    NotebookRun(const RunRequest& request, ResolvedPaths paths, NotebookFile notebook, Progress& progress)
            : request_(request), paths_(std::move(paths)), notebook_(std::move(notebook)), progress_(progress) {
        record_.input = request.input.string();
        record_.output = (request.output ? *request.output : request.input).string();
        record_.kind = "notebook";
        record_.started = iso_timestamp_now();
        record_.cache = request.cache;
        started_ = std::chrono::steady_clock::now();
    }

    NotebookFile& notebook() { return notebook_; }
    RunRecord& record() { return record_; }
    std::mutex& mutex() { return mutex_; }

    void plan() {
        for (size_t i = 0; i < notebook_.cell_count(); ++i) {
            if (!notebook_.is_code(i)) continue;
            CellRecord cell;
            cell.position = i + 1;
            cell.id = notebook_.id(i);
            cell.label = shorten(notebook_.source(i), 40);
            std::string source = notebook_.source(i);
            bool empty = source.find_first_not_of(" \t\r\n") == std::string::npos;
            cell.status = empty || notebook_.tags(i).count("skip-execution") ? CellStatus::Skipped : CellStatus::NotRun;
            if (cell.status == CellStatus::NotRun) to_run_.push_back(i);
            record_index_[i] = record_.cells.size();
            record_.cells.push_back(cell);
        }
    }
    const std::vector<size_t>& to_run() const { return to_run_; }
    CellRecord& record_of(size_t index) { return record_.cells[record_index_.at(index)]; }

    void set_current(size_t index) {
        std::lock_guard<std::mutex> lock(mutex_);
        current_ = index;
    }

    // Puts a finished run into the notebook (caller holds the mutex).
    void store(size_t index, std::vector<CellOutput> outputs, std::optional<int> count, const CellTiming& timing) {
        outputs_[index] = outputs;
        counts_[index] = count;
        timings_[index] = timing;
        notebook_.set_outputs(index, outputs, count, timing);
    }
    void store_rerun(const std::string& id, std::vector<CellOutput> outputs, const CellTiming& timing) {
        for (size_t i = 0; i < notebook_.cell_count(); ++i) {
            if (notebook_.id(i) == id) store(i, std::move(outputs), counts_[i], timing);
        }
    }
    void apply_display_update(const CellOutput& update) {
        for (auto& [index, outputs] : outputs_) {
            bool changed = false;
            for (auto& output : outputs) {
                if (output.kind == CellOutput::Kind::Display && output.display_id == update.display_id) {
                    output.data = update.data;
                    output.metadata = update.metadata;
                    changed = true;
                }
            }
            if (changed) notebook_.set_outputs(index, outputs, counts_[index], timings_[index]);
        }
    }

    // Cells that did not get to run lose their old outputs: the file must not mix two runs.
    void clear_unrun() {
        for (size_t index : to_run_) {
            if (record_of(index).status == CellStatus::NotRun) notebook_.clear_outputs(index);
        }
    }

    // Writes the notebook and the reports (caller holds the mutex). Returns false if the notebook could not be written.
    bool write(ExitCode code, const std::string& message, const std::string& r_version) {
        clear_unrun();
        record_.exit_code = code;
        record_.message = message;
        record_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
        if (!r_version.empty()) notebook_.set_language(r_version);
        notebook_.set_run_metadata({{"tool", "run-notebook"},
                                    {"start_time", record_.started},
                                    {"end_time", iso_timestamp_now()},
                                    {"duration_s", record_.seconds},
                                    {"exit_code", static_cast<int>(code)}});
        bool written = true;
        try {
            write_file_atomically(paths_.output, notebook_.serialize());
        } catch (const FileError& e) {
            progress_.error(std::string("run-notebook: ") + e.what());
            record_.exit_code = ExitCode::Internal;
            record_.message = e.what();
            written = false;
        }
        write_reports(paths_.reports, record_, progress_);
        return written;
    }

    // The watchdog's path when a timed-out cell ignores interrupts: write what finished, then end the process.
    [[noreturn]] void abandon_stuck_cell(double timeout, const std::string& r_version) {
        std::lock_guard<std::mutex> lock(mutex_);
        std::string message;
        if (current_) {
            CellRecord& cell = record_of(*current_);
            cell.status = CellStatus::Timeout;
            cell.error = timeout_error(timeout);
            notebook_.set_outputs(*current_, {*cell.error}, std::nullopt, CellTiming{});
            message = "cell " + std::to_string(cell.position) + " (id " + cell.id + ") ran longer than --timeout and " +
                      "did not stop when interrupted, so run-notebook gave up on it";
        }
        progress_.error("run-notebook: " + request_.input.string() + ": " + message + ".");
        write(ExitCode::Timeout, message, r_version);
        std::fflush(nullptr);
        _exit(static_cast<int>(ExitCode::Timeout));
    }

private:
    const RunRequest& request_;
    ResolvedPaths paths_;
    NotebookFile notebook_;
    Progress& progress_;
    RunRecord record_;
    std::chrono::steady_clock::time_point started_;
    std::vector<size_t> to_run_;
    std::map<size_t, size_t> record_index_;
    std::map<size_t, std::vector<CellOutput>> outputs_;
    std::map<size_t, std::optional<int>> counts_;
    std::map<size_t, CellTiming> timings_;
    std::optional<size_t> current_;
    std::mutex mutex_;
};

std::string parameters_code(const std::vector<Parameter>& parameters) {
    std::vector<Parameter> unique;
    for (const auto& parameter : parameters) {
        bool replaced = false;
        for (auto& seen : unique) {
            if (seen.name == parameter.name) {
                seen.value = parameter.value;
                replaced = true;
            }
        }
        if (!replaced) unique.push_back(parameter);
    }
    std::string code = "# Parameters\n";
    for (const auto& parameter : unique) code += parameter.name + " <- " + parameter.value + "\n";
    return code;
}

// Step 1: the notebook as read from disk (a file that cannot be read or parsed is bad input).
NotebookFile read_notebook(const RunRequest& request, const ResolvedPaths& paths, Progress& progress) {
    std::string text;
    try {
        text = read_text_file(paths.input);
    } catch (const FileError& e) {
        throw InputError(e.what());
    }
    NotebookFile notebook;
    try {
        notebook = NotebookFile::parse(text, request.input.string());
    } catch (const NotebookError& e) {
        throw InputError(e.what());
    }
    for (const auto& repair : notebook.repairs())
        progress.note("run-notebook: " + request.input.string() + ": " + repair);
    return notebook;
}

// Step 2: the engine session, in the notebook's working directory; nullptr (and a message) if R could not start.
// `r_version` is filled in once R runs: the watchdog's last words need it.
std::unique_ptr<EngineSession> start_session(const RunRequest& request, const ResolvedPaths& paths, NotebookRun& run,
                                             Progress& progress, std::string& r_version) {
    std::error_code ec;
    fs::current_path(paths.working_dir, ec);
    if (ec)
        throw InputError("cannot change to the directory " + paths.working_dir.string() + ": " + ec.message() + ".");
    SessionSettings settings;
    settings.r_library = EngineSession::default_r_library();
    settings.cache = request.cache;
    settings.cache_scopes = {cache_scope(paths.input)};
    if (paths.output != paths.input) settings.cache_scopes.push_back(cache_scope(paths.output));
    settings.cache_warning = [&progress](const std::string& line) { progress.error(line); };
    settings.timeout_seconds = request.timeout_seconds;
    if (request.log_output) {
        settings.live_output = [&progress](const CellOutput& output) { progress.live(output_text(output)); };
    }
    settings.on_stuck = [&run, &request, &r_version] {
        run.abandon_stuck_cell(request.timeout_seconds.value_or(0), r_version);
    };
    std::unique_ptr<EngineSession> session;
    try {
        session = std::make_unique<EngineSession>(settings);
    } catch (const std::exception& e) {
        progress.error(std::string("run-notebook: R could not start: ") + e.what());
        return nullptr;
    }
    r_version = session->r_version();
    run.record().cache_available = session->cache_available();
    return session;
}

// Step 3: `-p name=value` as a cell after the one tagged "parameters" (or first); each value must be R code.
void inject_parameters(const RunRequest& request, EngineSession& session, NotebookRun& run, Progress& progress) {
    if (request.parameters.empty()) return;
    for (const auto& parameter : request.parameters) {
        if (!session.is_complete(parameter.value)) {
            throw InputError("-p " + parameter.name + ": " + parameter.value +
                             " is not R code (pass an R literal such as 10, TRUE or '\"east\"').");
        }
    }
    bool after_parameters_cell = false;
    run.notebook().inject_parameters(parameters_code(request.parameters), after_parameters_cell);
    if (!after_parameters_cell) {
        progress.note("run-notebook: " + request.input.string() +
                      " has no cell tagged \"parameters\"; the injected parameters are the first cell.");
    }
}

// How the cell loop ended.
struct LoopEnd {
    ExitCode exit = ExitCode::Ok;
    std::string message;
    size_t failed_allowed = 0;
};

// One cell's status from how its run ended.
CellStatus status_of(const CellRun& result) {
    if (result.timed_out) return CellStatus::Timeout;
    if (result.interrupted && EngineSession::stop_signal() != 0) return CellStatus::Interrupted;
    if (result.failed) return CellStatus::Error;
    return CellStatus::Ok;
}

// Puts one finished cell (and the cells its run reran) into the notebook and the report.
void record_cell(NotebookRun& run, size_t index, CellRun& result, CellStatus status, int execution_count,
                 const CellTiming& timing, const RunRequest& request) {
    if (status == CellStatus::Timeout) {
        std::vector<CellOutput> kept;
        for (auto& output : result.outputs) {
            if (output.kind != CellOutput::Kind::Error) kept.push_back(std::move(output));
        }
        kept.push_back(timeout_error(*request.timeout_seconds));
        result.outputs = std::move(kept);
    }
    std::lock_guard<std::mutex> lock(run.mutex());
    run.store(index, result.outputs, execution_count, timing);
    for (auto& [other, outputs] : result.also_ran) run.store_rerun(other, std::move(outputs), timing);
    for (const auto& update : result.display_updates) run.apply_display_update(update);
    CellRecord& cell = run.record_of(index);
    cell.status = status;
    cell.seconds = result.seconds;
    cell.from_cache = result.from_cache;
    cell.execution_count = execution_count;
    if (const CellOutput* error = error_of(result.outputs)) cell.error = *error;
}

// The first lines of a failed cell's code, for the error message.
std::string code_excerpt(const std::string& source) {
    std::string excerpt;
    std::vector<std::string> lines = split_lines(source, false);
    for (size_t i = 0; i < lines.size() && i < 12; ++i) excerpt += "  | " + lines[i] + "\n";
    return excerpt;
}

// Step 4: the planned cells in order, until one fails (unless allowed), times out or a signal stops the run.
LoopEnd run_planned_cells(const RunRequest& request, EngineSession& session, NotebookRun& run, Progress& progress) {
    LoopEnd end;
    int execution_count = 0;
    const auto& plan = run.to_run();
    for (size_t k = 0; k < plan.size(); ++k) {
        if (EngineSession::stop_signal() != 0) break;
        size_t index = plan[k];
        NotebookFile& notebook = run.notebook();
        std::string id = notebook.id(index);
        std::string source = notebook.source(index);
        progress.start_cell(k + 1, plan.size(), shorten(source, 40));
        run.set_current(index);
        CellTiming timing;
        timing.started = iso_timestamp_now();
        CellRun result = session.run_cell(id, source);
        timing.finished = iso_timestamp_now();
        timing.seconds = result.seconds;
        timing.from_cache = result.from_cache;
        ++execution_count;

        CellStatus status = status_of(result);
        record_cell(run, index, result, status, execution_count, timing, request);
        progress.finish_cell(status, result.seconds, result.from_cache);
        for (const auto& notice : result.notices) progress.note(notice);

        std::string where = "cell " + std::to_string(index + 1) + " (id " + id + ")";
        if (status == CellStatus::Interrupted) break;
        if (status == CellStatus::Timeout) {
            end.exit = ExitCode::Timeout;
            end.message = where + " ran longer than --timeout and was interrupted";
            progress.error("run-notebook: " + request.input.string() + ": " + end.message + ".");
            break;
        }
        if (status == CellStatus::Error) {
            bool allowed = request.allow_errors || notebook.tags(index).count("raises-exception");
            if (allowed) {
                ++end.failed_allowed;
                continue;
            }
            end.exit = ExitCode::CellFailed;
            const CellOutput* error = error_of(result.outputs);
            end.message = where + " failed" + (error ? ": " + error->ename + ": " + error->evalue : std::string());
            progress.error("run-notebook: " + request.input.string() + ": " + where +
                           " failed; later cells were not run.\n" + code_excerpt(source) +
                           (error ? describe_error(*error) : std::string()));
            break;
        }
    }
    return end;
}

// Step 5: the one summary line ("3 of 4 cells done in 1.20 s (2 run, 1 from the cache) -> out.ipynb").
std::string summary_line(const RunRecord& record, size_t planned, size_t failed_allowed) {
    size_t ran = 0, cached = 0;
    for (const auto& cell : record.cells) {
        if (cell.from_cache) ++cached;
        else if (cell.status == CellStatus::Ok || cell.status == CellStatus::Error ||
                 cell.status == CellStatus::Timeout)
            ++ran;
    }
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.2f", record.seconds);
    return "run-notebook: " + std::to_string(ran + cached) + " of " + std::to_string(planned) + " cells done in " +
           seconds + " s (" + std::to_string(ran) + " run, " + std::to_string(cached) + " from the cache" +
           (failed_allowed ? ", " + std::to_string(failed_allowed) + " failed as allowed" : std::string()) +
           r_start_note(record) + ") -> " + record.output;
}

} // namespace

int run_notebook(const RunRequest& request, Progress& progress) {
    ResolvedPaths paths = resolve_paths(request, request.input);
    NotebookRun run(request, paths, read_notebook(request, paths, progress), progress);
    std::string r_version;
    std::unique_ptr<EngineSession> session = start_session(request, paths, run, progress, r_version);
    if (!session) return static_cast<int>(ExitCode::Internal);
    inject_parameters(request, *session, run, progress);
    run.plan();
    LoopEnd end = run_planned_cells(request, *session, run, progress);

    if (int signal = EngineSession::stop_signal(); signal != 0) {
        progress.error("run-notebook: stopped by signal " + std::to_string(signal) + "; " + request.input.string() +
                       " was left as it was and nothing was written.");
        return 128 + signal;
    }
    std::lock_guard<std::mutex> lock(run.mutex());
    run.record().r_started = session->r_started();
    run.record().r_start_seconds = session->r_start_seconds().value_or(0);
    if (!run.write(end.exit, end.message, r_version)) return static_cast<int>(ExitCode::Internal);
    progress.summary(summary_line(run.record(), run.to_run().size(), end.failed_allowed));
    return static_cast<int>(end.exit);
}

int explain_notebook(const WhyRequest& request, Progress& progress, std::ostream& out) {
    const std::string name = request.notebook.string();
    if (!request.cache.enabled) {
        throw InputError("run-notebook why compares " + name +
                         " with the cache, and --no-cache leaves nothing to compare.");
    }
    std::error_code ec;
    fs::path input = fs::absolute(request.notebook, ec).lexically_normal();
    if (!fs::exists(input, ec)) throw InputError(name + " does not exist.");
    if (fs::is_directory(input, ec)) throw InputError(name + " is a directory, not a file.");
    NotebookFile notebook;
    try {
        notebook = NotebookFile::parse(read_text_file(input), name);
    } catch (const FileError& e) {
        throw InputError(e.what());
    } catch (const NotebookError& e) {
        throw InputError(e.what());
    }

    // The cells a run would run, as run_notebook plans them; the rest are listed as skipped.
    struct Planned {
        std::string id, label, source, skipped;
    };
    std::vector<Planned> cells;
    std::optional<size_t> wanted;
    for (size_t i = 0; i < notebook.cell_count(); ++i) {
        if (!notebook.is_code(i)) continue;
        Planned cell{notebook.id(i), shorten(notebook.source(i), 40), notebook.source(i), ""};
        if (cell.source.find_first_not_of(" \t\r\n") == std::string::npos) cell.skipped = "skipped (empty)";
        else if (notebook.tags(i).count("skip-execution")) cell.skipped = "skipped (tagged skip-execution)";
        if (request.cell && !wanted && (*request.cell == cell.id || *request.cell == std::to_string(i + 1))) {
            wanted = cells.size();
        }
        cells.push_back(std::move(cell));
    }
    if (request.cell && !wanted) {
        throw InputError(name + " has no code cell with id (or number) " + *request.cell + ".");
    }

    std::map<std::string, std::string> verdicts; // id -> "cached" / "would rerun: ..."
    if (request.cache.force) {
        for (const auto& cell : cells) verdicts[cell.id] = "would rerun: --force runs every cell";
    } else {
        fs::current_path(input.parent_path(), ec);
        if (ec)
            throw InputError("cannot change to the directory " + input.parent_path().string() + ": " + ec.message() +
                             ".");
        std::vector<std::string> warnings;
        SessionSettings settings;
        settings.r_library = EngineSession::default_r_library();
        settings.cache = request.cache;
        settings.cache_warning = [&warnings](const std::string& line) { warnings.push_back(line); };
        std::unique_ptr<EngineSession> session;
        try {
            session = std::make_unique<EngineSession>(settings);
        } catch (const std::exception& e) {
            progress.error(std::string("run-notebook: R could not start: ") + e.what());
            return static_cast<int>(ExitCode::Internal);
        }
        if (!session->cache_available()) {
            throw InputError("why: the cache in " + request.cache.dir.string() + " cannot be opened" +
                             (warnings.empty() ? std::string(".") : " (" + warnings.front() + ")"));
        }
        for (const auto& line : warnings) progress.error(line);
        warnings.clear();
        // Later warnings (a damaged entry met on the way) are still worth a line each.
        session->start_dry_run(cache_scope(input));
        std::map<std::string, std::vector<std::string>> would_run;
        std::set<std::string> cached;
        for (const auto& cell : cells) {
            if (!cell.skipped.empty()) continue;
            CellRun run = session->run_cell(cell.id, cell.source, std::nullopt, false);
            for (auto& [id, reasons] : run.would_run) would_run.emplace(id, std::move(reasons));
            cached.insert(run.served_from_cache.begin(), run.served_from_cache.end());
            for (const auto& line : warnings) progress.error(line);
            warnings.clear();
            if (EngineSession::stop_signal() != 0) return 128 + EngineSession::stop_signal();
        }
        for (const auto& cell : cells) {
            std::string reasons;
            if (auto found = would_run.find(cell.id); found != would_run.end()) {
                for (const auto& reason : found->second) reasons += (reasons.empty() ? "" : "; ") + reason;
            }
            if (!reasons.empty()) verdicts[cell.id] = "would rerun: " + reasons;
            else if (cached.count(cell.id)) verdicts[cell.id] = "cached";
            else verdicts[cell.id] = "would rerun: it is not in the cache";
        }
    }
    for (size_t k = 0; k < cells.size(); ++k) {
        if (wanted && k != *wanted) continue;
        const Planned& cell = cells[k];
        out << cell.id << " [" << cell.label << "]: " << (cell.skipped.empty() ? verdicts[cell.id] : cell.skipped)
            << "\n";
    }
    out.flush();
    return 0;
}

} // namespace ripple::cli
