// private_files.hpp: creates the directories and files that hold a user's code, outputs and data (the cache, the
// history) as that user's alone: 0700 / 0600 whatever the umask, or 0770 / 0660 inside a directory that is already
// group-writable (a cache shared on purpose). Must not know what the files hold.
#pragma once

#include <filesystem>

#include <sys/types.h>

namespace ripple::dag {

struct FileModes {
    mode_t directory = 0700;
    mode_t file = 0600;
    bool shared = false; // the directory was group-writable before ripple looked at it
};

// The modes for files in `directory`: private, unless the directory exists and is group-writable.
FileModes modes_for(const std::filesystem::path& directory);

// Creates `path` and its missing parents with `modes.directory` (set with chmod, so the umask cannot widen or
// narrow it). Existing directories are left as they are. Returns false when it could not be created.
bool create_private_directories(const std::filesystem::path& path, const FileModes& modes);

// Creates `path` empty with `modes.file` when it does not exist; when it does and the directory is not shared, takes
// away what others (and the group) may do with it, for files an older ripple made 0644. Never throws.
void make_private_file(const std::filesystem::path& path, const FileModes& modes);

// make_private_file for an SQLite database before it is opened, and for its WAL and shared-memory files when they
// exist (SQLite gives the ones it creates the database file's mode).
void make_private_database(const std::filesystem::path& path, const FileModes& modes);

} // namespace ripple::dag
