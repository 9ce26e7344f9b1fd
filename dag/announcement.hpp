// announcement.hpp: what a front door tells the user after a request beyond the requested cell: which cells ran
// first, reran or went stale and why, and the engine's notices. Worded by dag/reason.hpp, as `why` is.
// Pure C++: must not know about Jupyter, R or how the text is shown.
#pragma once

#include <string>
#include <vector>

#include "dag/engine.hpp"
#include "dag/reason.hpp"

namespace ripple::dag {

struct Announcement {
    std::string text; // "↻ ran first ...", "↻ reran ...", "⚠ stale now ...", notices: one per line, each ending in \n
    std::string
        stale_note; // lazy mode, shown on each cell left stale: "⚠ stale: x changed above; run this cell to update"
};

// The root causes of the reruns (or stale marks) of `ids`: what changed for them, minus what they changed for each
// other (a chain a -> b -> c names a's change, not b's).
std::vector<Reason> root_causes(const Engine& engine, const ExecutionReport& report,
                                const std::vector<std::string>& ids);

Announcement announce(const Engine& engine, const ExecutionReport& report);

} // namespace ripple::dag
