// session_origin.hpp: a description of everything that decides the state of a freshly started embedded R session,
// computed without starting R, so a front door can serve a run from the cache without it (dag/replay_chain.hpp).
// Knows how R starts (its files and variables); must not call into R.
#pragma once

#include <filesystem>
#include <string>

namespace ripple::rbridge {

// One line per fact (the replay chain hashes it): the R version and installation (libR, R_HOME/etc start-up files, the base profile), the ripple
// binary and its R support package, start-up files in the home and working folders, the environment variables R
// reads at start (R_*, LANG, LANGUAGE, LC_*, TZ, HOME) and the working folder. Files count by their stamps
// (device, inode, size, modification time), so any reinstall, edit or touch gives a new origin.
std::string session_origin(const std::filesystem::path& r_library, const std::filesystem::path& working_dir);

// The version of the R library this program is linked with ("4.2.2", as getRversion() says), without starting R.
std::string linked_r_version();

} // namespace ripple::rbridge
