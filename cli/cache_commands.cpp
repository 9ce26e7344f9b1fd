// cache_commands.cpp: `run-notebook cache stats|gc|clear` over dag::CacheStore (SPEC sections 5 and 6).
// Must not know about R, the engine or documents: it only reads and tidies the store.
#include "cli/cache_commands.hpp"

#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "cli/cell_output.hpp"
#include "cli/run_support.hpp"
#include "dag/cache_store.hpp"

namespace ripple::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDatabaseFile = "cache.sqlite"; // dag::CacheStore's database, to tell "no cache yet"

std::string count(std::uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

const char* action_name(CacheRequest::Action action) {
    switch (action) {
    case CacheRequest::Action::Stats: return "stats";
    case CacheRequest::Action::Gc: return "gc";
    case CacheRequest::Action::Clear: return "clear";
    }
    return "";
}

void print_stats(const dag::CacheStats& stats, std::uint64_t limit, const fs::path& dir, std::ostream& out) {
    out << "cache:   " << dir.string() << "\n"
        << "entries: " << count(stats.entries, "cell execution", "cell executions") << " ("
        << human_size(stats.entry_bytes) << ")\n"
        << "values:  " << stats.values << " (" << stats.inline_values << " in the database, " << stats.file_values
        << " as files; " << human_size(stats.value_bytes) << ")\n"
        << "size:    " << human_size(stats.total_bytes) << " of entries and values (what gc --max-size bounds); "
        << human_size(stats.database_file_bytes) << " of database files on disk\n"
        << "limit:   " << human_size(limit) << " ("
        << (std::getenv("RIPPLE_CACHE_MAX_SIZE") ? "RIPPLE_CACHE_MAX_SIZE" : "default")
        << "), kept after each store by removing the least recently used entries\n"
        << "hits:    " << count(stats.recorded_hits, "cell served from the cache", "cells served from the cache")
        << " since the entries were made\n";
    if (!stats.remote_url.empty() || stats.remote_hits > 0 || stats.remote_uploads > 0) {
        out << "remote:  "
            << (stats.remote_url.empty() ? std::string("(RIPPLE_REMOTE_CACHE not set now)") : stats.remote_url) << ": "
            << count(stats.remote_hits, "entry or replay step", "entries and replay steps")
            << " fetched from the team cache (remote hits), " << stats.remote_uploads << " uploaded to it\n";
    }
}

} // namespace

int run_cache_command(const CacheRequest& request, std::ostream& out, std::ostream& err) {
    const std::string command = std::string("run-notebook cache ") + action_name(request.action);
    const fs::path& dir = request.cache.dir;
    std::error_code ec;
    bool has_database = fs::exists(dir / kDatabaseFile, ec);
    if (ec) {
        err << command << ": the cache in " << dir.string() << " cannot be opened (" << ec.message() << ").\n";
        return static_cast<int>(ExitCode::BadInput);
    }
    if (!has_database) {
        if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
            err << command << ": " << dir.string() << " is not a directory, so it cannot hold a cache.\n";
            return static_cast<int>(ExitCode::BadInput);
        }
        // Nothing to show or tidy, and nothing is created just for asking.
        out << "no cache in " << dir.string() << " yet (run a notebook to fill it).\n";
        return 0;
    }

    std::vector<std::string> warnings;
    dag::CacheStoreOptions options;
    options.directory = dir;
    options.on_warning = [&warnings](const std::string& line) { warnings.push_back(line); };
    if (request.action == CacheRequest::Action::Stats) {
        // Only to name it: stats asks the server nothing (a lookup or an upload is what talks to it).
        options.remote = dag::RemoteCacheSettings::from_environment(options.on_warning);
    }
    dag::CacheStore store(std::move(options));
    auto flush_warnings = [&] {
        for (const auto& line : warnings) err << line << "\n";
        warnings.clear();
    };
    if (!store.usable()) {
        err << command << ": the cache in " << dir.string() << " cannot be opened"
            << (warnings.empty() ? std::string(".") : " (" + warnings.front() + ")") << "\n";
        return static_cast<int>(ExitCode::BadInput);
    }
    if (request.action != CacheRequest::Action::Stats && !store.writable()) {
        err << command << ": the cache in " << dir.string()
            << " is read-only for this user, so nothing can be removed from it.\n";
        return static_cast<int>(ExitCode::BadInput);
    }
    flush_warnings();

    switch (request.action) {
    case CacheRequest::Action::Stats: {
        const std::uint64_t limit = dag::CacheStore::size_limit_from_environment(
            dir, [&warnings](const std::string& line) { warnings.push_back(line); });
        flush_warnings();
        print_stats(store.stats(), limit, store.directory(), out);
        break;
    }
    case CacheRequest::Action::Gc: {
        // Without --max-size only what no entry uses goes (values and stray files older than the grace period).
        std::uint64_t limit = request.max_size_bytes.value_or(std::numeric_limits<std::uint64_t>::max());
        dag::GcReport report = store.gc(limit);
        flush_warnings();
        out << "removed " << count(report.entries_removed, "entry", "entries") << " and "
            << count(report.values_removed, "value", "values") << " (" << report.files_removed
            << " of them files): " << human_size(report.bytes_before) << " -> " << human_size(report.bytes_after);
        if (request.max_size_bytes) out << " (limit " << human_size(*request.max_size_bytes) << ")";
        else out << " (no --max-size: only values no entry uses)";
        out << " in " << store.directory().string() << "\n";
        break;
    }
    case CacheRequest::Action::Clear: {
        dag::CacheStats before = store.stats();
        if (!store.clear()) {
            err << command << ": the cache in " << dir.string() << " could not be cleared"
                << (warnings.empty() ? std::string(".") : " (" + warnings.front() + ")") << "\n";
            return static_cast<int>(ExitCode::BadInput);
        }
        flush_warnings();
        out << "cleared " << store.directory().string() << ": removed " << count(before.entries, "entry", "entries")
            << " and " << count(before.values, "value", "values") << " (" << human_size(before.total_bytes) << ")\n";
        break;
    }
    }
    return 0;
}

} // namespace ripple::cli
