// cache_commands.hpp: `run-notebook cache stats|gc|clear`: the persistent cache store (dag::CacheStore) as a person
// sees it, in one screen of plain lines. Must not know about R, the engine or documents.
#pragma once

#include <ostream>

#include "cli/command_line.hpp"

namespace ripple::cli {

// Prints what was found or done to `out`; a cache that cannot be opened (or changed, for gc and clear) is one
// sentence on `err` and exit code 2. Store warnings met on the way go to `err` as "ripple cache: ..." lines.
int run_cache_command(const CacheRequest& request, std::ostream& out, std::ostream& err);

} // namespace ripple::cli
