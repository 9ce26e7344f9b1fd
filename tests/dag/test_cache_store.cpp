// test_cache_store.cpp: doctest unit tests of the persistent cache store: round trips, values stored once,
// damage found on load (miss + one warning + removal), LRU gc, the disk budget, why() keys, file digests, bad dirs.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dag/cache_store.hpp"
#include "dag/sha256.hpp"
#include "dag/store_execution_cache.hpp"

using namespace ripple::dag;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed with everything in it at the end.
class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "ripple-cache-test-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ignored);
        fs::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

// Sets an environment variable for the scope, restoring the old value afterwards.
class EnvVar {
public:
    EnvVar(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value) ::setenv(name, value, 1);
        else ::unsetenv(name);
    }
    ~EnvVar() {
        if (old_) ::setenv(name_, old_->c_str(), 1);
        else ::unsetenv(name_);
    }
    EnvVar(const EnvVar&) = delete;
    EnvVar& operator=(const EnvVar&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

std::string pseudo_random_bytes(std::size_t size, unsigned seed) {
    std::mt19937 generator(seed);
    std::string bytes(size, '\0');
    for (auto& byte : bytes) byte = static_cast<char>(generator() & 0xffU);
    return bytes;
}

struct Fixture {
    TempDir dir;
    std::vector<std::string> warnings;

    CacheStoreOptions options() {
        CacheStoreOptions o;
        o.directory = dir.path();
        o.inline_value_limit = 1024;
        o.on_warning = [this](const std::string& line) { warnings.push_back(line); };
        return o;
    }
    CacheStore open() { return CacheStore(options()); }

    // Puts a value and returns its hash.
    std::string put(CacheStore& store, const std::string& bytes) {
        std::string hash = sha256_hex(bytes);
        REQUIRE(store.put_value(hash, bytes));
        return hash;
    }

    CacheEntry entry(const std::string& name, std::map<std::string, std::string> values) {
        CacheEntry e;
        CacheKey key;
        key.set_code(name);
        e.key = key.digest();
        e.key_parts_json = key.to_json();
        e.outputs_json = "[{\"stream\": \"stdout\", \"text\": \"" + name + "\\n\"}]";
        e.values = std::move(values);
        e.run_seconds = 1.25;
        return e;
    }

    fs::path value_file(const std::string& hash) const {
        return dir.path() / "values" / hash.substr(0, 2) / hash.substr(2);
    }

    void sql(const std::string& statement) {
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open((dir.path() / "cache.sqlite").c_str(), &db) == SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        char* error = nullptr;
        int code = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error);
        std::string message = error ? error : "";
        sqlite3_free(error);
        sqlite3_close(db);
        REQUIRE_MESSAGE(code == SQLITE_OK, message);
    }

    bool warned_about(const std::string& fragment) const {
        for (const auto& line : warnings) {
            if (line.find(fragment) != std::string::npos) return true;
        }
        return false;
    }
};

} // namespace

TEST_CASE("the cache directory: explicit, then RIPPLE_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache") {
    EnvVar home("HOME", "/home/someone");
    {
        EnvVar ripple("RIPPLE_CACHE_DIR", "/srv/ripple-cache");
        EnvVar xdg("XDG_CACHE_HOME", "/xdg");
        CHECK(CacheStore::resolve_directory("/explicit") == fs::path("/explicit"));
        CHECK(CacheStore::resolve_directory() == fs::path("/srv/ripple-cache"));
    }
    {
        EnvVar ripple("RIPPLE_CACHE_DIR", "");
        EnvVar xdg("XDG_CACHE_HOME", "/xdg");
        CHECK(CacheStore::resolve_directory() == fs::path("/xdg/ripple"));
    }
    EnvVar ripple("RIPPLE_CACHE_DIR", nullptr);
    EnvVar xdg("XDG_CACHE_HOME", nullptr);
    CHECK(CacheStore::resolve_directory() == fs::path("/home/someone/.cache/ripple"));
}

TEST_CASE_FIXTURE(Fixture, "an entry stored by one store object is found by another, with all its fields") {
    std::string small = put(*std::make_unique<CacheStore>(open()), "small value");
    {
        CacheStore store = open();
        CHECK(store.usable());
        CHECK(store.writable());
        std::string large = put(store, pseudo_random_bytes(50'000, 1));
        CacheEntry e = entry("x <- f(1)", {{"x", small}, {"big", large}});
        e.metadata_json = "{\"removed\": [\"old\"]}";
        CHECK(store.store(e));
    }
    CacheStore other = open();
    CacheEntry expected = entry("x <- f(1)", {});
    CHECK_FALSE(other.lookup(entry("something else", {}).key));
    std::optional<CachedExecution> hit = other.fetch(expected.key);
    REQUIRE(hit);
    CHECK(hit->entry.outputs_json == expected.outputs_json);
    CHECK(hit->entry.metadata_json == "{\"removed\": [\"old\"]}");
    CHECK(hit->entry.key_parts_json == expected.key_parts_json);
    CHECK(hit->entry.run_seconds == doctest::Approx(1.25));
    CHECK(hit->entry.values.size() == 2);
    CHECK(hit->value_bytes.at(small) == "small value");
    CHECK(hit->value_bytes.at(hit->entry.values.at("big")) == pseudo_random_bytes(50'000, 1));
    CacheStats stats = other.stats();
    CHECK(stats.entries == 1);
    CHECK(stats.values == 2);
    CHECK(stats.inline_values == 1);
    CHECK(stats.file_values == 1);
    CHECK(stats.session_hits == 1);
    CHECK(stats.session_misses == 1);
    CHECK(stats.recorded_hits == 1);
    CHECK(stats.total_bytes >= 50'000 + 11);
    CHECK(warnings.empty());
}

TEST_CASE_FIXTURE(Fixture, "a hit only reads: hits and last use are recorded later, in one batch") {
    CacheEntry e = entry("y <- g(2)", {});
    {
        CacheStore writer = open();
        e.values["y"] = put(writer, "y's value");
        REQUIRE(writer.store(e));
    }
    sql("UPDATE entries SET last_used_at = 1");
    CacheStore other = open();
    auto recorded = [&other]() { return other.stats().recorded_hits; };
    {
        CacheStore reader = open();
        REQUIRE(reader.lookup(e.key));
        REQUIRE(reader.lookup(e.key));
        CHECK(recorded() == 0);
        reader.record_hits();
        CHECK(recorded() == 2);
        reader.record_hits();
        CHECK(recorded() == 2);
        REQUIRE(reader.fetch(e.key));
        CHECK(reader.stats().recorded_hits == 3); // stats() records first
        REQUIRE(reader.lookup(e.key));
        CacheStore moved = std::move(reader);
    } // destruction records what waits
    CHECK(recorded() == 4);
    std::optional<CacheEntry> again = other.lookup(e.key);
    REQUIRE(again);
    CHECK(again->hit_count == 4);
    CHECK(again->last_used_at_ms > 1); // the LRU time moved to the hits' time
    CHECK(warnings.empty());
}

TEST_CASE_FIXTURE(Fixture, "values are stored once by hash: small ones in SQLite, large ones as published files") {
    CacheStore store = open();
    std::string bytes = pseudo_random_bytes(4096, 7);
    std::string hash = put(store, bytes);
    CHECK(fs::file_size(value_file(hash)) == 4096);
    put(store, bytes);
    std::string tiny = put(store, "tiny");
    CHECK_FALSE(fs::exists(value_file(tiny)));
    CHECK(store.has_value(hash));
    CHECK(store.has_value(tiny));
    CHECK_FALSE(store.has_value(sha256_hex("never stored")));
    CHECK(store.stats().values == 2);
    CHECK(store.load_value(hash) == bytes);
    CHECK(store.load_value(tiny) == "tiny");
    CHECK(store.put_value(sha256_hex(""), ""));
    CHECK(store.load_value(sha256_hex("")) == "");
    // No temporary files are left behind.
    CHECK(fs::is_empty(dir.path() / "tmp"));
    CHECK(warnings.empty());
}

TEST_CASE_FIXTURE(Fixture, "wrong hashes and entries with unstored values are refused with a warning") {
    CacheStore store = open();
    CHECK_FALSE(store.put_value(sha256_hex("something"), "something else"));
    CHECK(warned_about("do not match its hash"));
    CHECK_FALSE(store.put_value("not-a-hash", "x"));
    CHECK_FALSE(store.store(entry("y <- 2", {{"y", sha256_hex("missing")}})));
    CHECK(warned_about("is not in the cache"));
    CHECK(store.stats().entries == 0);
}

TEST_CASE_FIXTURE(Fixture, "a truncated value file is a miss with one warning, and is removed") {
    CacheStore store = open();
    std::string hash = put(store, pseudo_random_bytes(10'000, 2));
    CacheEntry e = entry("big <- make()", {{"big", hash}});
    REQUIRE(store.store(e));
    fs::resize_file(value_file(hash), 5'000);
    CHECK_FALSE(store.lookup(e.key));
    CHECK_FALSE(store.lookup(e.key));
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("ripple cache: value " + hash.substr(0, 12)) == 0);
    CHECK(warnings[0].find("5000 bytes instead of 10000") != std::string::npos);
    CHECK_FALSE(fs::exists(value_file(hash)));
    CHECK(store.stats().entries == 0);
    // Recomputing stores it again, and it is served again.
    put(store, pseudo_random_bytes(10'000, 2));
    REQUIRE(store.store(e));
    CHECK(store.fetch(e.key));
}

TEST_CASE_FIXTURE(Fixture, "flipped bytes in a value file or an inline value are caught by the hash on load") {
    CacheStore store = open();
    std::string big = put(store, pseudo_random_bytes(8'000, 3));
    std::string small = put(store, "a small inline value");
    CacheEntry uses_big = entry("a <- 1", {{"a", big}});
    CacheEntry uses_small = entry("b <- 2", {{"b", small}});
    REQUIRE(store.store(uses_big));
    REQUIRE(store.store(uses_small));
    {
        std::fstream file(value_file(big), std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(4'000);
        file.put('\x5a');
    }
    sql("UPDATE blobs SET inline_data = CAST('a small inlime value' AS BLOB) WHERE hash = '" + small + "'");

    CHECK_FALSE(store.fetch(uses_big.key));
    CHECK_FALSE(store.fetch(uses_small.key));
    CHECK(warnings.size() == 2);
    CHECK(warned_about("value " + big.substr(0, 12)));
    CHECK(warned_about("value " + small.substr(0, 12)));
    CHECK(warned_about("its content does not match its hash"));
    CHECK_FALSE(store.load_value(big));
    CHECK_FALSE(store.lookup(uses_big.key));
    CHECK(store.stats().entries == 0);
    CHECK(warnings.size() == 2);
}

TEST_CASE_FIXTURE(Fixture, "a tampered entry row or a missing value file is a miss with one warning") {
    CacheStore store = open();
    std::string big = put(store, pseudo_random_bytes(3'000, 4));
    CacheEntry a = entry("a <- 1", {{"a", big}});
    CacheEntry b = entry("b <- 2", {{"b", put(store, "b")}});
    REQUIRE(store.store(a));
    REQUIRE(store.store(b));
    sql("UPDATE entries SET outputs = '[{\"stream\": \"stdout\", \"text\": \"forged\"}]' WHERE key = '" + b.key + "'");
    fs::remove(value_file(big));
    CHECK_FALSE(store.lookup(b.key));
    CHECK_FALSE(store.lookup(a.key));
    CHECK(warnings.size() == 2);
    CHECK(warned_about("entry " + b.key.substr(0, 12)));
    CHECK(warned_about("its file is missing"));
    CHECK(store.stats().entries == 0);
}

TEST_CASE_FIXTURE(Fixture, "gc removes least recently used entries first and keeps values still in use") {
    CacheStoreOptions o = options();
    o.orphan_grace_seconds = 0;
    CacheStore store(o);
    std::string shared = put(store, pseudo_random_bytes(2'000, 10));
    std::vector<CacheEntry> entries;
    for (int i = 0; i < 4; ++i) {
        std::string own = put(store, pseudo_random_bytes(10'000, 20 + i));
        entries.push_back(entry("cell " + std::to_string(i), {{"own", own}, {"shared", shared}}));
        REQUIRE(store.store(entries.back()));
        ::usleep(5'000);
    }
    std::string orphan = put(store, pseudo_random_bytes(5'000, 99));
    ::usleep(5'000);
    // Entry 0 is used again: entry 1 becomes the least recently used.
    REQUIRE(store.lookup(entries[0].key));
    std::uint64_t before = store.stats().total_bytes;
    GcReport report = store.gc(before - 5'000 - 12'000);
    CHECK(report.bytes_before == before);
    CHECK(report.bytes_after <= before - 5'000 - 12'000);
    CHECK(report.entries_removed == 2);
    CHECK(report.values_removed == 3); // the orphan, and the own values of entries 1 and 2
    CHECK_FALSE(store.lookup(entries[1].key));
    CHECK_FALSE(store.lookup(entries[2].key));
    CHECK(store.fetch(entries[0].key));
    CHECK(store.fetch(entries[3].key));
    CHECK_FALSE(store.has_value(orphan));
    CHECK_FALSE(fs::exists(value_file(orphan)));
    CHECK(store.has_value(shared));

    GcReport all = store.gc(0);
    CHECK(all.bytes_after == 0);
    CHECK(store.stats().entries == 0);
    CHECK(store.stats().values == 0);
    CHECK(warnings.empty());
}

TEST_CASE_FIXTURE(Fixture, "gc removes stray value and temporary files older than the grace period") {
    CacheStoreOptions o = options();
    o.orphan_grace_seconds = 0;
    CacheStore store(o);
    std::string stray_hash = sha256_hex("stray");
    fs::create_directories(value_file(stray_hash).parent_path());
    std::ofstream(value_file(stray_hash)) << "stray";
    fs::create_directories(dir.path() / "tmp");
    std::ofstream(dir.path() / "tmp" / "value-dead01") << "half written";
    ::usleep(20'000);
    GcReport report = store.gc(1'000'000);
    CHECK(report.files_removed == 2);
    CHECK_FALSE(fs::exists(value_file(stray_hash)));
    CHECK_FALSE(fs::exists(dir.path() / "tmp" / "value-dead01"));
}

TEST_CASE_FIXTURE(Fixture, "clear removes every entry, value and value file") {
    CacheStore store = open();
    std::string big = put(store, pseudo_random_bytes(5'000, 5));
    REQUIRE(store.store(entry("z <- 1", {{"z", big}})));
    store.remember_cell_key("nb.ipynb", "cell-1", CacheKey());
    CHECK(store.clear());
    CacheStats stats = store.stats();
    CHECK(stats.entries == 0);
    CHECK(stats.values == 0);
    CHECK_FALSE(fs::exists(value_file(big)));
    CHECK_FALSE(store.last_cell_key("nb.ipynb", "cell-1"));
    // Still usable afterwards.
    std::string again = put(store, pseudo_random_bytes(5'000, 5));
    CHECK(store.store(entry("z <- 1", {{"z", again}})));
    CHECK(store.fetch(entry("z <- 1", {}).key));
}

TEST_CASE_FIXTURE(Fixture, "why(): the last key of a cell is kept across store objects and explains the change") {
    CacheKey first;
    first.set_code("y<-x+1");
    first.add_value_use("x", sha256_hex("1"));
    open().remember_cell_key("analysis.ipynb", "c1", first);
    CacheKey second = first;
    second.add_value_use("x", sha256_hex("2"));
    CacheStore store = open();
    std::optional<CacheKey> last = store.last_cell_key("analysis.ipynb", "c1");
    REQUIRE(last);
    CHECK(*last == first);
    CHECK(explain(*last, second) == std::vector<std::string>{"the value of `x` changed"});
    CHECK_FALSE(store.last_cell_key("other.ipynb", "c1"));
    store.remember_cell_key("analysis.ipynb", "c1", second);
    CHECK(*open().last_cell_key("analysis.ipynb", "c1") == second);
}

TEST_CASE_FIXTURE(Fixture, "remember_cell_keys writes a batch of keys, each readable afterwards") {
    std::vector<CacheStore::CellKeyRecord> records;
    for (int i = 0; i < 20; ++i) {
        CacheKey key;
        key.set_code("x" + std::to_string(i) + " <- " + std::to_string(i));
        records.push_back({"nb.ipynb", "cell-" + std::to_string(i), key});
        records.push_back({"other.ipynb", "cell-" + std::to_string(i), key});
    }
    open().remember_cell_keys(records);
    CacheStore store = open();
    for (const auto& record : records) {
        std::optional<CacheKey> last = store.last_cell_key(record.scope, record.cell);
        REQUIRE(last);
        CHECK(*last == record.key);
    }
    store.remember_cell_keys({}); // nothing to write is fine
    CHECK_FALSE(store.last_cell_key("nb.ipynb", "cell-20"));
}

TEST_CASE_FIXTURE(Fixture, "file digests follow the content, also within the same mtime tick") {
    CacheStore store = open();
    fs::path file = dir.path() / "data.csv";
    std::ofstream(file) << "a,b\n1,2\n";
    CHECK(store.file_digest(file) == sha256_hex("a,b\n1,2\n"));
    CHECK(open().file_digest(file) == sha256_hex("a,b\n1,2\n"));
    struct stat before {};
    REQUIRE(::stat(file.c_str(), &before) == 0);
    std::ofstream(file) << "a,b\n1,3\n"; // same size
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    REQUIRE(::utimensat(AT_FDCWD, file.c_str(), times, 0) == 0); // and the same mtime
    CHECK(store.file_digest(file) == sha256_hex("a,b\n1,3\n"));
    fs::remove(file);
    CHECK_FALSE(store.file_digest(file));
    CHECK_FALSE(store.file_digest(dir.path()));
}

TEST_CASE_FIXTURE(Fixture,
                  "an unusable directory gives misses and skipped stores with one warning, never an exception") {
    fs::path not_a_dir = dir.path() / "plain-file";
    std::ofstream(not_a_dir) << "x";
    CacheStoreOptions o = options();
    o.directory = not_a_dir;
    CacheStore store(o);
    CHECK_FALSE(store.usable());
    CHECK_FALSE(store.lookup(sha256_hex("k")));
    CHECK_FALSE(store.put_value(sha256_hex("v"), "v"));
    CHECK_FALSE(store.put_value(sha256_hex("w"), "w"));
    CHECK_FALSE(store.load_value(sha256_hex("v")));
    CHECK(store.gc(0).entries_removed == 0);
    CHECK_FALSE(store.clear());
    CHECK(store.stats().entries == 0);
    CHECK(warnings.size() == 1); // cannot open: said once, not again for each skipped store
    CHECK(warnings[0].find("cannot use the cache in " + not_a_dir.string()) != std::string::npos);
}

TEST_CASE_FIXTURE(Fixture, "a cache written by a newer ripple is left alone") {
    { open(); }
    sql("PRAGMA user_version = 99");
    CacheStore store = open();
    CHECK_FALSE(store.usable());
    CHECK(warned_about("newer ripple"));
    CHECK_FALSE(store.lookup(sha256_hex("k")));
}

TEST_CASE_FIXTURE(Fixture, "a damaged database file is set aside and replaced by an empty cache") {
    std::ofstream(dir.path() / "cache.sqlite", std::ios::binary) << std::string(8192, '\x13');
    CacheStore store = open();
    CHECK(store.usable());
    CHECK(store.writable());
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("was damaged") != std::string::npos);
    bool set_aside = false;
    for (const auto& file : fs::directory_iterator(dir.path())) {
        set_aside = set_aside || file.path().filename().string().find("cache.sqlite.damaged-") == 0;
    }
    CHECK(set_aside);
    CHECK(store.store(entry("q <- 1", {{"q", put(store, "q")}})));
}

TEST_CASE_FIXTURE(Fixture, "the same warning is reported once per store") {
    CacheStore store = open();
    for (int i = 0; i < 5; ++i) store.store(entry("w", {{"w", sha256_hex("absent")}}));
    CHECK(warnings.size() == 1);
}

TEST_CASE_FIXTURE(Fixture, "the engine's ExecutionCache over the store keeps keys, outputs, values and removals") {
    CacheStore store = open();
    StoreExecutionCache cache(store);
    std::string bytes = pseudo_random_bytes(3'000, 8);
    std::string hash = sha256_hex(bytes);
    CHECK_FALSE(cache.has_value(hash));
    cache.store_value(hash, bytes);
    CHECK(cache.has_value(hash));
    CHECK(cache.load_value(hash) == bytes);

    CachedRun run;
    run.key.set_code("m<-fit(d);rm(tmp)");
    run.key.set_rng("Mersenne-Twister/Inversion/Rejection", sha256_hex("seed"));
    run.outputs = "[{\"type\": \"stream\", \"name\": \"stdout\", \"text\": \"ok\\n\"}]";
    run.values = {{"m", hash}, {"tmp", ""}};
    run.seconds = 2.5;
    const std::string digest = sha256_hex("the key as looked up");
    cache.store(digest, run);

    std::optional<CachedRun> found = StoreExecutionCache(*std::make_unique<CacheStore>(open())).find(digest);
    REQUIRE(found);
    CHECK(found->key == run.key);
    CHECK(found->outputs == run.outputs);
    CHECK(found->values == run.values);
    CHECK(found->seconds == doctest::Approx(2.5));
    CHECK_FALSE(cache.find(sha256_hex("other")));
    CHECK(warnings.empty());
}

TEST_CASE_FIXTURE(Fixture, "a cache of schema 2 (before the team cache's counters) keeps its entries when opened") {
    CacheEntry stored;
    {
        CacheStore store = open();
        stored = entry("kept across the upgrade", {{"x", put(store, "value of x")}});
        REQUIRE(store.store(stored));
    }
    sql("DROP TABLE counters");
    sql("PRAGMA user_version = 2");
    CacheStore store = open();
    CHECK(store.lookup(stored.key));
    CHECK(store.stats().remote_hits == 0);
    CHECK(warnings.empty());
}

// --- the disk budget (CacheStoreOptions::max_bytes, RIPPLE_CACHE_MAX_SIZE) ---------------------------------------

TEST_CASE("sizes: bytes, units of 1024 with or without B / iB, decimals; anything else is refused") {
    CHECK(parse_byte_size("123") == 123U);
    CHECK(parse_byte_size("500M") == 500ULL << 20U);
    CHECK(parse_byte_size("5G") == 5ULL << 30U);
    CHECK(parse_byte_size("1.5GB") == (3ULL << 30U) / 2);
    CHECK(parse_byte_size(" 2 GiB ") == 2ULL << 30U);
    CHECK(parse_byte_size("64k") == 64ULL << 10U);
    CHECK(parse_byte_size("1t") == 1ULL << 40U);
    for (const char* bad : {"", "M", "abc", "-5M", "5X", "1.2.3G", "0", "5 GBB", ".", "1e9"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_byte_size(bad));
    }
}

TEST_CASE_FIXTURE(Fixture, "RIPPLE_CACHE_MAX_SIZE sets the limit; a bad value is one warning and the default") {
    const std::uint64_t fallback = CacheStore::default_size_limit(dir.path() / "not" / "yet");
    CHECK(fallback > 0);
    CHECK(fallback <= 5ULL << 30U);
    auto warn = [this](const std::string& line) { warnings.push_back(line); };
    {
        EnvVar unset("RIPPLE_CACHE_MAX_SIZE", nullptr);
        CHECK(CacheStore::size_limit_from_environment(dir.path(), warn) == fallback);
    }
    {
        EnvVar set("RIPPLE_CACHE_MAX_SIZE", "1.5G");
        CHECK(CacheStore::size_limit_from_environment(dir.path(), warn) == (3ULL << 30U) / 2);
    }
    CHECK(warnings.empty());
    EnvVar bad("RIPPLE_CACHE_MAX_SIZE", "lots");
    CHECK(CacheStore::size_limit_from_environment(dir.path(), warn) == fallback);
    REQUIRE(warnings.size() == 1);
    CHECK(warned_about("RIPPLE_CACHE_MAX_SIZE=\"lots\" is not a size"));
}

TEST_CASE_FIXTURE(Fixture, "the limit is kept after each store by LRU, sparing what this store object used") {
    constexpr std::size_t kValue = 200'000;
    std::vector<CacheEntry> old;
    {
        CacheStore earlier = open(); // another session, over: nothing of it is protected now
        for (int i = 0; i < 6; ++i) {
            old.push_back(entry("old " + std::to_string(i), {{"v", put(earlier, pseudo_random_bytes(kValue, i))}}));
            REQUIRE(earlier.store(old.back()));
            ::usleep(5'000);
        }
    }
    CacheStoreOptions o = options();
    o.max_bytes = 2'200'000;
    CacheStore live(o);
    REQUIRE(live.lookup(old[0].key)); // this session uses it ...
    live.record_hits();
    ::usleep(5'000);
    {
        CacheStore other = open(); // ... and another session uses the others since: old[0] is the least recently used
        for (int i = 1; i < 6; ++i) REQUIRE(other.lookup(old[i].key));
    }
    for (int i = 0; i < 6; ++i) {
        CacheEntry fresh = entry("new " + std::to_string(i), {{"v", put(live, pseudo_random_bytes(kValue, 100 + i))}});
        REQUIRE(live.store(fresh));
        CHECK(live.stats().total_bytes <= o.max_bytes);
    }
    CacheStats stats = live.stats();
    CHECK(stats.session_evictions >= 2);
    CHECK(live.fetch(old[0].key));        // protected by the hit
    CHECK_FALSE(live.lookup(old[1].key)); // the least recently used of the rest went first
    for (int i = 0; i < 6; ++i) CHECK(live.fetch(entry("new " + std::to_string(i), {}).key));
    // Evicted values' files are gone from the disk, not only from the database.
    std::uint64_t on_disk = 0;
    for (const auto& file : fs::recursive_directory_iterator(dir.path())) {
        if (file.is_regular_file()) on_disk += file.file_size();
    }
    CHECK(on_disk <= o.max_bytes + stats.database_file_bytes);
    CHECK(warnings.empty());
}

TEST_CASE_FIXTURE(Fixture, "a value larger than the limit is skipped with one warning, its entry quietly") {
    CacheStoreOptions o = options();
    o.max_bytes = 100'000;
    CacheStore store(o);
    for (int i = 0; i < 3; ++i) {
        std::string bytes = pseudo_random_bytes(150'000, 7 + i);
        CHECK_FALSE(store.put_value(sha256_hex(bytes), bytes));
        CHECK_FALSE(store.store(entry("huge " + std::to_string(i), {{"h", sha256_hex(bytes)}})));
    }
    REQUIRE(warnings.size() == 1);
    CHECK(warned_about("larger than the cache's size limit"));
    CHECK(store.stats().values == 0);
    // Smaller values are still stored.
    REQUIRE(store.store(entry("small", {{"s", put(store, pseudo_random_bytes(20'000, 1))}})));
}

TEST_CASE_FIXTURE(Fixture, "protected data may hold the cache above the limit; the next session brings it under") {
    CacheStoreOptions o = options();
    o.max_bytes = 400'000;
    {
        CacheStore live(o);
        for (int i = 0; i < 3; ++i)
            REQUIRE(
                live.store(entry("kept " + std::to_string(i), {{"v", put(live, pseudo_random_bytes(150'000, i))}})));
        CHECK(live.stats().total_bytes > o.max_bytes); // all of it this session's own
        CHECK(live.stats().session_evictions == 0);
    }
    CacheStore next(o);
    REQUIRE(next.store(entry("next", {{"v", put(next, pseudo_random_bytes(10'000, 50))}})));
    CHECK(next.stats().total_bytes <= o.max_bytes);
    CHECK(next.fetch(entry("next", {}).key));
    CHECK(next.fetch(entry("kept 2", {}).key)); // the most recent one fits
    CHECK(warnings.empty());
}
