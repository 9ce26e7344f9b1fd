// sha256.hpp: SHA-256 digests (OpenSSL EVP) of bytes, streams and files, as lowercase hex.
// Pure C++: must not know about R, SQLite or the engine; the cache key and store build on it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ripple::dag {

inline constexpr std::size_t kSha256HexLength = 64;

// An incremental SHA-256: update() any number of times, then hex_digest() once.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;

    void update(const void* data, std::size_t size);
    void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
    // Feeds an 8-byte little-endian length and then the bytes: concatenations stay unambiguous.
    void update_framed(std::string_view bytes);
    // Ends the digest; the object must not be updated afterwards.
    std::string hex_digest();

private:
    struct Context;
    std::unique_ptr<Context> context_;
};

std::string sha256_hex(std::string_view bytes);

// Digest of a file's content, read in large blocks; nullopt when it cannot be opened or read.
std::optional<std::string> sha256_file(const std::filesystem::path& path);

// True for a string of exactly 64 lowercase hexadecimal digits.
bool is_sha256_hex(std::string_view text);

} // namespace ripple::dag
