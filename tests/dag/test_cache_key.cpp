// test_cache_key.cpp: doctest unit tests of cache keys: what changes the digest and what does not, and the
// sentences explain() gives for each kind of change. Pure C++.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "dag/cache_key.hpp"
#include "dag/sha256.hpp"

using namespace ripple::dag;

namespace {

KeyEnvironment environment() {
    KeyEnvironment env;
    env.r_version = "4.2";
    env.attached_packages = {{"stats", "4.2.2"}, {"dplyr", "1.1.0"}};
    env.output_options = {{"digits", "7"}, {"scipen", "0"}, {"OutDec", "."}, {"width", "80"}};
    env.locale = "LC_CTYPE=C.UTF-8;LC_COLLATE=C";
    env.value_format = "R-serialize-3/binary/little-endian";
    return env;
}

const std::string kHashA = sha256_hex("value a");
const std::string kHashB = sha256_hex("value b");

CacheKey typical_key() {
    CacheKey key;
    key.set_code("y<-df$x+1");
    key.set_option("fig.width", "7");
    key.add_value_use("df", kHashA);
    key.add_package_use("mutate", "dplyr", "1.1.0");
    key.add_file("data.csv", sha256_hex("a,b\n1,2\n"));
    key.set_environment(environment());
    return key;
}

std::string joined(const std::vector<std::string>& sentences) {
    std::string text;
    for (const auto& s : sentences) text += (text.empty() ? "" : "; ") + s;
    return text;
}

} // namespace

TEST_CASE("sha256 helpers give the standard digests") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    Sha256 streamed;
    streamed.update("a");
    streamed.update("bc");
    CHECK(streamed.hex_digest() == sha256_hex("abc"));
    CHECK(is_sha256_hex(sha256_hex("x")));
    CHECK_FALSE(is_sha256_hex("abc"));
    CHECK_FALSE(is_sha256_hex(std::string(64, 'G')));
}

TEST_CASE("a key's digest is deterministic and independent of the order parts were added") {
    CacheKey a = typical_key();
    CacheKey b;
    b.set_environment(environment());
    b.add_file("data.csv", sha256_hex("a,b\n1,2\n"));
    b.add_package_use("mutate", "dplyr", "1.1.0");
    b.add_value_use("df", kHashA);
    b.set_option("fig.width", "7");
    b.set_code("y<-df$x+1");
    CHECK(a.digest() == b.digest());
    CHECK(a == b);
    CHECK(is_sha256_hex(a.digest()));
    CHECK(a.digest() == typical_key().digest());
}

TEST_CASE("every part of the key changes the digest") {
    const std::string base = typical_key().digest();
    std::vector<CacheKey> variants(12, typical_key());
    variants[0].set_code("y<-df$x+2");
    variants[1].set_option("fig.width", "5");
    variants[2].set_option("eval", "false");
    variants[3].add_value_use("df", kHashB);
    variants[4].add_package_use("mutate", "dplyr", "1.1.2");
    variants[5].add_file("data.csv", sha256_hex("a,b\n1,3\n"));
    variants[6].add_file("data.csv", std::nullopt);
    KeyEnvironment newer_r = environment();
    newer_r.r_version = "4.3";
    variants[7].set_environment(newer_r);
    KeyEnvironment digits = environment();
    digits.output_options["digits"] = "3";
    variants[8].set_environment(digits);
    KeyEnvironment locale = environment();
    locale.locale = "LC_CTYPE=de_DE.UTF-8;LC_COLLATE=de_DE.UTF-8";
    variants[9].set_environment(locale);
    variants[10].set_rng("Mersenne-Twister/Inversion/Rejection", sha256_hex("seed"));
    variants[11].add_unbound_use("z");
    std::set<std::string> digests{base};
    for (const auto& variant : variants) CHECK(digests.insert(variant.digest()).second);
}

TEST_CASE("presentation-only options and cell identity are not part of the key") {
    CacheKey key = typical_key();
    const std::string before = key.digest();
    CHECK_FALSE(key.set_option("echo", "false"));
    CHECK_FALSE(key.set_option("label", "my-chunk"));
    CHECK_FALSE(key.set_option("fig.cap", "A caption"));
    CHECK_FALSE(key.set_option("tags", "[\"parameters\"]"));
    CHECK_FALSE(key.set_option("cache", "true"));
    CHECK(key.digest() == before);
    CHECK(key.set_option("error", "true"));
    CHECK(key.set_option("dev", "svg"));
    CHECK(key.set_option("dpi", "144"));
    CHECK(key.digest() != before);
    for (const auto& [name, value] : key.parts()) {
        CHECK(name.find("cell") == std::string::npos);
        CHECK(name.find("label") == std::string::npos);
    }
}

TEST_CASE("the code part is the hash of the normalized code, which the caller supplies") {
    CacheKey a, b;
    a.set_code("x<-1");
    b.set_code_hash(sha256_hex("x<-1"));
    CHECK(a.digest() == b.digest());
    CHECK(a.part("code") == sha256_hex("x<-1"));
}

TEST_CASE("a key survives its JSON form, and bad JSON is refused") {
    CacheKey key = typical_key();
    key.set_rng("Mersenne-Twister/Inversion/Rejection", kHashB);
    std::optional<CacheKey> back = CacheKey::from_json(key.to_json());
    REQUIRE(back);
    CHECK(*back == key);
    CHECK(back->digest() == key.digest());
    CHECK_FALSE(CacheKey::from_json("not json"));
    CHECK_FALSE(CacheKey::from_json("{\"parts\": {\"code\": 3}}"));
    CHECK_FALSE(CacheKey::from_json("{\"parts\": {}}"));
    CHECK_FALSE(CacheKey::from_json("[1, 2]"));
}

TEST_CASE("explain: nothing changed says nothing") { CHECK(explain(typical_key(), typical_key()).empty()); }

TEST_CASE("explain names the code, an upstream value, a file and a package version") {
    CacheKey now = typical_key();
    now.set_code("y<-df$x*2");
    now.add_value_use("df", kHashB);
    now.add_file("data.csv", sha256_hex("changed"));
    now.add_package_use("mutate", "dplyr", "1.1.2");
    KeyEnvironment env = environment();
    env.attached_packages["dplyr"] = "1.1.2";
    now.set_environment(env);
    std::vector<std::string> why = explain(typical_key(), now);
    INFO(joined(why));
    // The same package change seen through a use and through the search path is said once.
    CHECK(why == std::vector<std::string>{"code changed", "the value of `df` changed", "package dplyr 1.1.0 → 1.1.2",
                                          "file data.csv changed"});
}

TEST_CASE("explain: uses, files, options and environment coming and going") {
    CacheKey before = typical_key();
    CacheKey now = typical_key();
    now.add_value_use("extra", kHashA);
    now.add_file("data.csv", std::nullopt);
    now.set_option("fig.width", "9");
    KeyEnvironment env = environment();
    env.r_version = "4.3";
    env.output_options["digits"] = "3";
    env.locale = "LC_CTYPE=de_DE.UTF-8";
    env.attached_packages.erase("stats");
    env.attached_packages["ggplot2"] = "3.4.0";
    now.set_environment(env);
    std::string text = joined(explain(before, now));
    CHECK(text.find("option fig.width changed (7 → 9)") != std::string::npos);
    CHECK(text.find("the cell now reads `extra`") != std::string::npos);
    CHECK(text.find("file data.csv disappeared") != std::string::npos);
    CHECK(text.find("R 4.2 → 4.3") != std::string::npos);
    CHECK(text.find("package ggplot2 3.4.0 is now attached") != std::string::npos);
    CHECK(text.find("package stats is no longer attached") != std::string::npos);
    CHECK(text.find("R option digits changed (7 → 3)") != std::string::npos);
    CHECK(text.find("the locale changed") != std::string::npos);

    std::string back = joined(explain(now, before));
    CHECK(back.find("the cell no longer reads `extra`") != std::string::npos);
    CHECK(back.find("file data.csv appeared") != std::string::npos);
}

TEST_CASE("explain: random numbers and where a symbol comes from") {
    CacheKey before = typical_key();
    CacheKey now = typical_key();
    now.set_rng("Mersenne-Twister/Inversion/Rejection", kHashA);
    CHECK(explain(before, now) == std::vector<std::string>{"the cell now uses random numbers"});
    CacheKey reseeded = now;
    reseeded.set_rng("Mersenne-Twister/Inversion/Rejection", kHashB);
    CHECK(explain(now, reseeded) == std::vector<std::string>{"the random seed changed"});

    CacheKey shadowed = typical_key();
    shadowed.add_value_use("mutate", kHashA);
    CHECK(explain(before, shadowed) ==
          std::vector<std::string>{"`mutate` is now a notebook value (was from package dplyr)"});
    CacheKey gone = typical_key();
    gone.add_unbound_use("df");
    CHECK(explain(before, gone) == std::vector<std::string>{"`df` is no longer defined"});
}

TEST_CASE("explain: a different key format is the whole story") {
    CacheKey now = typical_key();
    std::optional<CacheKey> old = CacheKey::from_json(
        "{\"schema\": 0, \"parts\": {\"schema\": \"0\", \"code\": \"abc\", \"use:df\": \"value:1\"}}");
    REQUIRE(old);
    std::vector<std::string> why = explain(*old, now);
    REQUIRE(why.size() == 1);
    CHECK(why[0].find("the cache key format changed") == 0);
}
