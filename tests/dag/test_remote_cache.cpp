// test_remote_cache.cpp: doctest unit tests of the team cache's signatures and settings (no server: the nginx tests
// are tests/cache/test_remote.py). Pure C++.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "dag/remote_cache.hpp"
#include "dag/sha256.hpp"

using namespace ripple::dag;

namespace {
const std::string kKey = "the team key, long enough";
const std::string kDigest = sha256_hex("some cache key");
} // namespace

TEST_CASE("a signed document verifies under the team key and the digest it was signed for, and nowhere else") {
    const std::string payload = R"({"kind":"entry","outputs":"[]"})";
    const std::string document = RemoteCache::sign(kKey, kDigest, payload);
    CHECK(RemoteCache::verify(kKey, kDigest, document) == payload);
    CHECK_FALSE(RemoteCache::verify("another key of the same length", kDigest, document));
    CHECK_FALSE(RemoteCache::verify(kKey, sha256_hex("another cache key"), document)); // moved under another key
    std::string tampered = document;
    tampered[tampered.size() - 3] ^= 1;
    CHECK_FALSE(RemoteCache::verify(kKey, kDigest, tampered));
    CHECK_FALSE(RemoteCache::verify(kKey, kDigest, document.substr(0, document.size() - 1))); // truncated
    CHECK_FALSE(RemoteCache::verify(kKey, kDigest, payload));                                 // unsigned
    CHECK_FALSE(RemoteCache::verify(kKey, kDigest, ""));
}

TEST_CASE("without a key file the remote is not used, and one line says why") {
    ::setenv("RIPPLE_REMOTE_CACHE", "http://127.0.0.1:9/", 1);
    ::unsetenv("RIPPLE_REMOTE_CACHE_KEY_FILE");
    std::vector<std::string> lines;
    auto warn = [&lines](const std::string& line) { lines.push_back(line); };
    CHECK_FALSE(RemoteCacheSettings::from_environment(warn));
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("RIPPLE_REMOTE_CACHE_KEY_FILE is not set") != std::string::npos);

    const std::string key_file = "test_remote_cache.key";
    std::ofstream(key_file) << "short\n";
    ::setenv("RIPPLE_REMOTE_CACHE_KEY_FILE", key_file.c_str(), 1);
    lines.clear();
    CHECK_FALSE(RemoteCacheSettings::from_environment(warn));
    CHECK(lines.size() == 1);

    std::ofstream(key_file) << kKey << "\n";
    lines.clear();
    auto settings = RemoteCacheSettings::from_environment(warn);
    REQUIRE(settings);
    CHECK(lines.empty());
    CHECK(settings->url == "http://127.0.0.1:9");
    CHECK(settings->key == kKey);

    ::setenv("RIPPLE_REMOTE_CACHE", "ftp://example.invalid", 1);
    CHECK_FALSE(RemoteCacheSettings::from_environment(warn));
    std::remove(key_file.c_str());
    ::unsetenv("RIPPLE_REMOTE_CACHE");
    ::unsetenv("RIPPLE_REMOTE_CACHE_KEY_FILE");
}
