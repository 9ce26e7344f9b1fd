// cache_key.cpp: composing, digesting, (de)serializing and explaining cache keys (SPEC section 5).
// Must not know about R, SQLite or which cell a key belongs to.
#include "dag/cache_key.hpp"

#include <algorithm>
#include <array>
#include <set>

#include <nlohmann/json.hpp>

#include "dag/sha256.hpp"

namespace ripple::dag {

namespace {

// Chunk options that change only how results are shown (knitr / Quarto names), never what runs.
constexpr std::array<std::string_view, 14> kPresentationOptions = {
    "echo",  "label",     "fig.cap",      "fig.alt",      "fig.scap",    "fig.lp",      "tags",
    "cache", "dependson", "class.source", "class.output", "attr.source", "attr.output", "ripple"};

constexpr std::string_view kValuePrefix = "value:";
constexpr std::string_view kPackagePrefix = "package:";
constexpr std::string_view kUnbound = "unbound";
constexpr std::string_view kMissingFile = "missing";
constexpr std::size_t kShownValueLength = 40;

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// The category that orders explanations: most telling first.
int category_rank(std::string_view name) {
    static constexpr std::array<std::string_view, 13> kOrder = {
        "schema",      "code",       "option:",          "use:",     "file:",   "wrote:", "env:r", "env:package:",
        "env:option:", "env:locale", "env:value-format", "rng:kind", "rng:seed"};
    for (std::size_t i = 0; i < kOrder.size(); ++i) {
        std::string_view prefix = kOrder[i];
        bool exact = prefix.back() != ':';
        if (exact ? name == prefix : starts_with(name, prefix)) return static_cast<int>(i);
    }
    return static_cast<int>(kOrder.size());
}

std::string after(std::string_view name, std::string_view prefix) { return std::string(name.substr(prefix.size())); }

// "a → b" when both are short enough to read, else nothing.
std::string transition(const std::string& from, const std::string& to) {
    if (from.size() > kShownValueLength || to.size() > kShownValueLength) return "";
    return " (" + (from.empty() ? std::string("unset") : from) + " → " + (to.empty() ? std::string("unset") : to) + ")";
}

struct PackageRef {
    std::string name, version;
};

std::optional<PackageRef> package_of(const std::string& value) {
    if (!starts_with(value, kPackagePrefix)) return std::nullopt;
    std::string rest = after(value, kPackagePrefix);
    std::size_t at = rest.rfind('@');
    if (at == std::string::npos) return PackageRef{rest, ""};
    return PackageRef{rest.substr(0, at), rest.substr(at + 1)};
}

std::string describe_use_change(const std::string& symbol, const std::optional<std::string>& before,
                                const std::optional<std::string>& now) {
    const std::string quoted = "`" + symbol + "`";
    if (!before) return "the cell now reads " + quoted;
    if (!now) return "the cell no longer reads " + quoted;
    if (*now == kUnbound) return quoted + " is no longer defined";
    if (*before == kUnbound) return quoted + " is now defined";
    auto before_package = package_of(*before);
    auto now_package = package_of(*now);
    if (before_package && now_package) {
        if (before_package->name == now_package->name) {
            return "package " + now_package->name + " " + before_package->version + " → " + now_package->version;
        }
        return quoted + " now comes from package " + now_package->name + " (was " + before_package->name + ")";
    }
    if (now_package) return quoted + " now comes from package " + now_package->name + " (was a notebook value)";
    if (before_package) return quoted + " is now a notebook value (was from package " + before_package->name + ")";
    return "the value of " + quoted + " changed";
}

std::string describe_file_change(const std::string& path, const std::optional<std::string>& before,
                                 const std::optional<std::string>& now) {
    if (!before) return "the cell now reads file " + path;
    if (!now) return "the cell no longer reads file " + path;
    if (*now == kMissingFile) return "file " + path + " disappeared";
    if (*before == kMissingFile) return "file " + path + " appeared";
    return "file " + path + " changed";
}

std::string describe_package_change(const std::string& package, const std::optional<std::string>& before,
                                    const std::optional<std::string>& now) {
    if (!before) return "package " + package + " " + *now + " is now attached";
    if (!now) return "package " + package + " is no longer attached";
    return "package " + package + " " + *before + " → " + *now;
}

std::string describe_option_change(const std::string& label, const std::optional<std::string>& before,
                                   const std::optional<std::string>& now) {
    return label + " changed" + transition(before.value_or(""), now.value_or(""));
}

std::string describe_change(const std::string& name, const std::optional<std::string>& before,
                            const std::optional<std::string>& now) {
    if (name == "schema") return "the cache key format changed" + transition(before.value_or(""), now.value_or(""));
    if (name == "code") return "code changed";
    if (starts_with(name, "option:")) return describe_option_change("option " + after(name, "option:"), before, now);
    if (starts_with(name, "use:")) return describe_use_change(after(name, "use:"), before, now);
    if (starts_with(name, "file:")) return describe_file_change(after(name, "file:"), before, now);
    if (starts_with(name, "wrote:")) return "file " + after(name, "wrote:") + ", which the cell writes, changed since";
    if (name == "env:r") return "R " + before.value_or("?") + " → " + now.value_or("?");
    if (starts_with(name, "env:package:")) return describe_package_change(after(name, "env:package:"), before, now);
    if (starts_with(name, "env:option:")) {
        return describe_option_change("R option " + after(name, "env:option:"), before, now);
    }
    if (name == "env:locale") return "the locale changed" + transition(before.value_or(""), now.value_or(""));
    if (name == "env:value-format") return "the way values are hashed changed";
    if (name == "rng:kind") {
        if (!before) return "the cell now uses random numbers";
        if (!now) return "the cell no longer uses random numbers";
        return "the random number generator changed" + transition(*before, *now);
    }
    if (name == "rng:seed") return before && now ? "the random seed changed" : "";
    if (name == "outside") return now ? "it reached outside R (" + *now + ")" : "";
    return "key part " + name + " changed";
}

} // namespace

CacheKey::CacheKey() { parts_["schema"] = std::to_string(kCacheKeySchemaVersion); }

CacheKey& CacheKey::set_code(std::string_view normalized_code) { return set_code_hash(sha256_hex(normalized_code)); }

CacheKey& CacheKey::set_code_hash(std::string_view code_hash) {
    parts_["code"] = std::string(code_hash);
    return *this;
}

bool CacheKey::set_option(const std::string& name, const std::string& value) {
    if (!is_evaluation_option(name)) return false;
    parts_["option:" + name] = value;
    return true;
}

CacheKey& CacheKey::add_value_use(const std::string& symbol, const std::string& value_hash) {
    parts_["use:" + symbol] = std::string(kValuePrefix) + value_hash;
    return *this;
}

CacheKey& CacheKey::add_package_use(const std::string& symbol, const std::string& package, const std::string& version) {
    parts_["use:" + symbol] = std::string(kPackagePrefix) + package + "@" + version;
    return *this;
}

CacheKey& CacheKey::add_unbound_use(const std::string& symbol) {
    parts_["use:" + symbol] = std::string(kUnbound);
    return *this;
}

CacheKey& CacheKey::add_file(const std::string& path, const std::optional<std::string>& content_hash) {
    parts_["file:" + path] = content_hash ? *content_hash : std::string(kMissingFile);
    return *this;
}

CacheKey& CacheKey::set_outside(const std::string& what) {
    parts_["outside"] = what;
    return *this;
}

CacheKey& CacheKey::add_written_file(const std::string& path, const std::optional<std::string>& content_hash) {
    parts_["wrote:" + path] = content_hash ? *content_hash : std::string(kMissingFile);
    return *this;
}

CacheKey& CacheKey::set_environment(const KeyEnvironment& environment) {
    for (auto it = parts_.begin(); it != parts_.end();) {
        it = starts_with(it->first, "env:") ? parts_.erase(it) : std::next(it);
    }
    parts_["env:r"] = environment.r_version;
    parts_["env:locale"] = environment.locale;
    parts_["env:value-format"] = environment.value_format;
    for (const auto& [package, version] : environment.attached_packages) parts_["env:package:" + package] = version;
    for (const auto& [option, value] : environment.output_options) parts_["env:option:" + option] = value;
    return *this;
}

CacheKey& CacheKey::set_rng(const std::string& kind, const std::string& incoming_seed_hash) {
    parts_["rng:kind"] = kind;
    parts_["rng:seed"] = incoming_seed_hash;
    return *this;
}

std::optional<std::string> CacheKey::part(const std::string& name) const {
    auto found = parts_.find(name);
    if (found == parts_.end()) return std::nullopt;
    return found->second;
}

std::string CacheKey::digest() const {
    Sha256 digest;
    digest.update_framed("ripple-cache-key");
    for (const auto& [name, value] : parts_) {
        digest.update_framed(name);
        digest.update_framed(value);
    }
    return digest.hex_digest();
}

std::string CacheKey::to_json() const {
    nlohmann::json parts = nlohmann::json::object();
    for (const auto& [name, value] : parts_) parts[name] = value;
    nlohmann::json document = {{"schema", kCacheKeySchemaVersion}, {"parts", parts}};
    return document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<CacheKey> CacheKey::from_json(std::string_view json) {
    nlohmann::json document = nlohmann::json::parse(json, nullptr, false);
    if (document.is_discarded() || !document.is_object()) return std::nullopt;
    auto parts = document.find("parts");
    if (parts == document.end() || !parts->is_object()) return std::nullopt;
    CacheKey key;
    key.parts_.clear();
    for (const auto& [name, value] : parts->items()) {
        if (!value.is_string()) return std::nullopt;
        key.parts_[name] = value.get<std::string>();
    }
    if (!key.parts_.count("schema")) return std::nullopt;
    return key;
}

bool is_evaluation_option(std::string_view name) {
    return std::find(kPresentationOptions.begin(), kPresentationOptions.end(), name) == kPresentationOptions.end();
}

std::vector<std::string> explain(const CacheKey& previous, const CacheKey& current) {
    std::vector<std::string> names;
    for (const auto& [name, value] : previous.parts()) names.push_back(name);
    for (const auto& [name, value] : current.parts()) {
        if (!previous.parts().count(name)) names.push_back(name);
    }
    std::stable_sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
        int rank_a = category_rank(a), rank_b = category_rank(b);
        return rank_a != rank_b ? rank_a < rank_b : a < b;
    });

    std::vector<std::string> sentences;
    std::set<std::string> seen;
    for (const auto& name : names) {
        std::optional<std::string> before = previous.part(name), now = current.part(name);
        if (before == now) continue;
        // A different key format names its parts differently: comparing them further would mislead.
        if (name == "schema") return {describe_change(name, before, now)};
        std::string sentence = describe_change(name, before, now);
        if (!sentence.empty() && seen.insert(sentence).second) sentences.push_back(std::move(sentence));
    }
    return sentences;
}

} // namespace ripple::dag
