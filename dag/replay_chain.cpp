// replay_chain.cpp: steps by (state, request) digests, their checks (file contents, package file stamps) and the
// state after each step. Must not know about R: the engine decides what is a step, the runtime names package files.
#include "dag/replay_chain.hpp"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "dag/sha256.hpp"

namespace ripple::dag {

namespace {

constexpr int kStepFormat = 1;

std::string string_field(const nlohmann::json& object, const char* name) {
    auto found = object.find(name);
    return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

} // namespace

std::string execution_identity(const CachedRun& run) {
    Sha256 digest;
    digest.update_framed("ripple-execution");
    digest.update_framed(run.key.to_json());
    for (const auto& [symbol, hash] : run.values) {
        digest.update_framed(symbol);
        digest.update_framed(hash);
    }
    digest.update_framed(run.outputs.empty() ? "[]" : run.outputs); // a store may keep "no outputs" as "[]"
    return digest.hex_digest();
}

ReplayChain::ReplayChain(ExecutionCache& cache, const std::string& origin)
        : cache_(cache), state_(origin.empty() ? std::string() : sha256_hex("ripple-replay-origin\n" + origin)) {
    intact_ = !state_.empty();
}

std::string ReplayChain::stamp(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) return "missing";
    return std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino) + ":" + std::to_string(info.st_size) + ":" +
           std::to_string(static_cast<long long>(info.st_mtim.tv_sec)) + "." + std::to_string(info.st_mtim.tv_nsec);
}

std::string ReplayChain::request_digest(const std::string& code, const std::map<std::string, std::string>& options) {
    Sha256 digest;
    digest.update_framed("ripple-request");
    digest.update_framed(code);
    for (const auto& [name, value] : options) {
        digest.update_framed(name);
        digest.update_framed(value);
    }
    return digest.hex_digest();
}

void ReplayChain::move(const std::string& request, const std::string& step_identity) {
    Sha256 digest;
    digest.update_framed("ripple-replay-state");
    digest.update_framed(state_);
    digest.update_framed(request);
    digest.update_framed(step_identity);
    state_ = digest.hex_digest();
}

std::optional<ReplayChain::Served> ReplayChain::advance(const std::string& code,
                                                        const std::map<std::string, std::string>& options) {
    if (!intact_) return std::nullopt;
    const std::string request = request_digest(code, options);
    std::optional<std::string> text = cache_.find_replay_step(state_, request);
    if (!text) return std::nullopt;
    nlohmann::json step = nlohmann::json::parse(*text, nullptr, false);
    if (!step.is_object() || step.value("format", 0) != kStepFormat) return std::nullopt;
    // What the run read outside the session must be as it was.
    if (auto files = step.find("files"); files != step.end() && files->is_object()) {
        for (const auto& [path, hash] : files->items()) {
            if (!hash.is_string() || files_.digest(path).value_or("missing") != hash.get<std::string>())
                return std::nullopt;
        }
    }
    if (auto stamps = step.find("stamps"); stamps != step.end() && stamps->is_object()) {
        for (const auto& [path, recorded] : stamps->items()) {
            if (!recorded.is_string() || stamp(path) != recorded.get<std::string>()) return std::nullopt;
        }
    }
    std::string entry_key = string_field(step, "entry");
    std::string outputs;
    std::string identity;
    bool binds_nothing = false;
    if (!entry_key.empty()) {
        std::optional<CachedRun> run = cache_.find(entry_key);
        if (!run) return std::nullopt;
        identity = execution_identity(*run);
        if (identity != string_field(step, "identity")) return std::nullopt;
        outputs = std::move(run->outputs);
        binds_nothing = run->values.empty();
    } else {
        outputs = string_field(step, "outputs");
        identity = "recorded:" + sha256_hex(outputs);
    }
    move(request, identity);
    return Served{std::move(outputs), !entry_key.empty(), binds_nothing};
}

void ReplayChain::extend(const std::string& code, const std::map<std::string, std::string>& options,
                         const std::optional<ReplayStep>& step) {
    if (!intact_) return;
    if (!step) {
        intact_ = false;
        return;
    }
    const std::string request = request_digest(code, options);
    nlohmann::json stamps = nlohmann::json::object();
    for (const auto& path : step->stamped_paths) stamps[path] = stamp(path);
    nlohmann::json record = {{"format", kStepFormat}, {"files", step->files}, {"stamps", stamps}};
    std::string identity;
    if (!step->entry_key.empty()) {
        record["entry"] = step->entry_key;
        record["identity"] = step->entry_identity;
        identity = step->entry_identity;
    } else {
        record["outputs"] = step->outputs;
        identity = "recorded:" + sha256_hex(step->outputs);
    }
    cache_.store_replay_step(state_, request, step->entry_key, record.dump());
    move(request, identity);
}

} // namespace ripple::dag
