// cache_key.hpp: the key of a cell execution in the content-hash cache (SPEC section 5), made of named
// parts, its SHA-256 digest, and explain() saying which part changed. Pure C++: no R, no SQLite, no cell ids.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ripple::dag {

// Bumped whenever the way parts are named or valued changes: every older key then misses.
inline constexpr int kCacheKeySchemaVersion = 1;

// The session state a cell's results may depend on besides its inputs (SPEC section 5, "environment").
struct KeyEnvironment {
    std::string r_version;                                // major.minor, e.g. "4.2"
    std::map<std::string, std::string> attached_packages; // package -> version
    std::map<std::string, std::string> output_options;    // digits, scipen, OutDec, width -> value
    std::string locale;                                   // e.g. "LC_CTYPE=C.UTF-8;LC_COLLATE=C"
    std::string value_format;                             // how value hashes were computed (rbridge::value_format())
};

// A cache key: a sorted map of named parts. Part names:
//   "schema"                  key format version
//   "code"                    SHA-256 of the normalized code (tokens without comments and whitespace)
//   "option:NAME"             an option that changes evaluation (eval, error, fig.width, dev, dpi, ...)
//   "use:SYMBOL"              "value:HASH" (value hash of its reaching definition), "package:PKG@VERSION"
//                             (a package's export) or "unbound"
//   "file:PATH"               content hash of a file the cell reads, or "missing"
//   "wrote:PATH"              content hash a file had after the run wrote it, or "missing" (it removed it): learnt by
//                             running, checked before serving (an entry is served only where the file is as it left it)
//   "env:r", "env:locale", "env:value-format", "env:package:PKG", "env:option:NAME"
//   "rng:kind", "rng:seed"    RNG kind and the hash of the incoming .Random.seed (cells that use the RNG)
//   "outside"                 what the run reached outside R, in words: the entry is a marker that keeps no results,
//                             so that every session knows (and `why` can say) the cell is never served
// Nothing identifies the cell (id, label, position, path): identical work shares one entry.
class CacheKey {
public:
    CacheKey();

    CacheKey& set_code(std::string_view normalized_code);
    CacheKey& set_code_hash(std::string_view code_hash);
    // Options that only change presentation (echo, label, fig.cap, tags, cache, ...) are ignored;
    // returns whether the option became part of the key.
    bool set_option(const std::string& name, const std::string& value);
    CacheKey& add_value_use(const std::string& symbol, const std::string& value_hash);
    CacheKey& add_package_use(const std::string& symbol, const std::string& package, const std::string& version);
    CacheKey& add_unbound_use(const std::string& symbol);
    // content_hash nullopt: the file did not exist when the cell ran.
    CacheKey& add_file(const std::string& path, const std::optional<std::string>& content_hash);
    CacheKey& add_written_file(const std::string& path, const std::optional<std::string>& content_hash);
    CacheKey& set_outside(const std::string& what);
    CacheKey& set_environment(const KeyEnvironment& environment);
    CacheKey& set_rng(const std::string& kind, const std::string& incoming_seed_hash);

    const std::map<std::string, std::string>& parts() const { return parts_; }
    std::optional<std::string> part(const std::string& name) const;
    // Lowercase hex SHA-256 over every part (name and value, length-framed, in name order).
    std::string digest() const;

    // {"schema": N, "parts": {...}}: what the store keeps with each entry so why() can diff it later.
    std::string to_json() const;
    static std::optional<CacheKey> from_json(std::string_view json);

    bool operator==(const CacheKey& other) const { return parts_ == other.parts_; }

private:
    std::map<std::string, std::string> parts_;
};

// True for options that change what evaluation produces (unknown options count as such: a needless miss
// costs time, a false hit costs correctness).
bool is_evaluation_option(std::string_view name);

// Human sentences, one per change, saying what differs from `previous` to `current`, most telling first:
// "code changed", "the value of `df` changed", "file data.csv changed", "package dplyr 1.1.0 → 1.1.2".
// Empty when the keys are equal.
std::vector<std::string> explain(const CacheKey& previous, const CacheKey& current);

} // namespace ripple::dag
