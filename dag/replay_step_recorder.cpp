// replay_step_recorder.cpp: each cell's last run as a replay step, when it is one.
// Pure C++: must not know about R headers, Jupyter or sockets, nor how cache keys are made.
#include "dag/replay_step_recorder.hpp"

#include "dag/engine.hpp"

namespace ripple::dag {

bool ReplayStepRecorder::may_record(const std::string& code, const CellAnalysis& analysis) {
    if (analysis.fingerprint.empty() || analysis.is_volatile || analysis.deletes_all) return false;
    if (cell_cache_choice(code) == CellCacheChoice::Never) return false;
    return !analysis.effects.count("rng") && !analysis.effects.count("wd");
}

std::set<std::string> ReplayStepRecorder::packages_in(const CacheKey& key) {
    std::set<std::string> packages;
    static const std::string kUse = "use:", kAttached = "env:package:", kPackage = "package:";
    for (const auto& [name, value] : key.parts()) {
        if (name.rfind(kAttached, 0) == 0) {
            packages.insert(name.substr(kAttached.size()));
        } else if (name.rfind(kUse, 0) == 0 && value.rfind(kPackage, 0) == 0) {
            std::string package = value.substr(kPackage.size());
            packages.insert(package.substr(0, package.rfind('@')));
        }
    }
    return packages;
}

void ReplayStepRecorder::served(const CachedRun& entry) {
    if (on_) served_identity_ = execution_identity(entry);
}

void ReplayStepRecorder::keep_cached(const std::string& id, const CacheKey& key, const std::string& identity,
                                     const std::map<std::string, std::string>& files) {
    ReplayStep step;
    step.entry_key = key.digest();
    step.entry_identity = identity;
    step.packages = packages_in(key);
    step.files = files;
    steps_[id] = std::move(step);
}

void ReplayStepRecorder::keep_recorded(const std::string& id, ReplayStep step,
                                       const std::map<std::string, std::string>& files) {
    step.files = files;
    steps_[id] = std::move(step);
}

std::optional<ReplayStep> ReplayStepRecorder::step(const std::string& id, CellRuntime& runtime) const {
    auto found = steps_.find(id);
    if (found == steps_.end()) return std::nullopt;
    ReplayStep step = found->second;
    std::optional<std::vector<std::string>> paths = runtime.package_files(step.packages);
    if (!paths) return std::nullopt;
    step.stamped_paths = std::move(*paths);
    return step;
}

} // namespace ripple::dag
