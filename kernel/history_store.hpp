// history_store.hpp: the kernel's IPython-style input/output history (sessions, lines, outputs) in one SQLite file.
// Must not know about R, sockets or the engine: it stores the strings xeus and the interpreter hand it.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <xeus/xhistory_manager.hpp>

#include "dag/sqlite_statement.hpp"

struct sqlite3;

namespace ripple::kernel {

// One kernel run is one history session. Every construction opens (or creates) the database and adds a
// new session row, so session numbers keep growing across kernel restarts while the file persists.
//
// Reply shapes follow IPython: {"status": "ok", "history": [entry, ...]} where an entry is
// [session, line, source], or [session, line, [source, output]] when output is requested (output is
// null for lines that produced no execute_result). Failures never throw: if the file cannot be opened
// or written (unwritable path, disk full, corruption), the store says so in one line on stderr and
// carries on in an in-memory database (with a copy of whatever the file still let it read).
class HistoryStore : public xeus::xhistory_manager {
public:
    // database_path may be ":memory:" for a history that lives as long as this object.
    explicit HistoryStore(const std::filesystem::path& database_path);
    ~HistoryStore() override;

    HistoryStore(const HistoryStore&) = delete;
    HistoryStore& operator=(const HistoryStore&) = delete;
    HistoryStore(HistoryStore&&) = delete;
    HistoryStore& operator=(HistoryStore&&) = delete;

    // Sets the text/plain output of line line_num of the current session. xeus stores a line's input
    // only after its execute_reply, so an output recorded before its line exists is held back and
    // attached when the line is stored. Callers must only record outputs of executions that xeus
    // stores in history (not silent, store_history true): others share the previous line's number.
    void record_output(int line_num, const std::string& text);

    // Stores input line line_num of the current session (and its text/plain output, if any). The
    // interpreter calls this itself for every stored execution: xeus 2.4.1 calls store_inputs after
    // each execute_reply with a line number that is not the execution count (always 1), so that
    // entry point is ignored (see store_inputs_impl).
    void record_input(int line_num, const std::string& input, const std::string& output = std::string());

    // The session number of this kernel run (1 for a fresh database).
    int current_session() const;

    // False when the store runs on an in-memory database (asked for, or fallen back to).
    bool persists_to_file() const;

    // Owner of one SQLite connection (closes it).
    struct DatabaseCloser {
        void operator()(sqlite3* database) const noexcept;
    };
    using DatabaseHandle = std::unique_ptr<sqlite3, DatabaseCloser>;

private:
    void configure_impl() override;
    void store_inputs_impl(int session, int line_num, const std::string& input, const std::string& output) override;
    nl::json get_tail_impl(int n, bool raw, bool output) const override;
    nl::json get_range_impl(int session, int start, int stop, bool raw, bool output) const override;
    nl::json search_impl(const std::string& pattern, bool raw, bool output, int n, bool unique) const override;

    // Runs a write against the database; on failure falls back to memory once and retries.
    template <typename Write>
    void write_with_fallback(const char* what, Write&& write);
    // Replaces the file database by an in-memory copy (or a fresh in-memory one) and says why on stderr.
    void fall_back_to_memory(const std::string& reason);
    int resolve_session(int session) const;

    std::filesystem::path database_path_;
    mutable std::mutex mutex_;
    DatabaseHandle database_;
    // The per-cell writes' statements, prepared once (preparing cost a few percent of a trivial cell); declared after
    // database_, so finalized before it closes.
    dag::sqlite::StatementCache statements_;
    int session_ = 0;
    bool persists_to_file_ = false;
    std::optional<std::pair<int, std::string>> pending_output_;
};

} // namespace ripple::kernel
