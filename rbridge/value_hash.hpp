// value_hash.hpp: content hashes and bytes of R values for the cache: R's serialization (format version 3,
// header skipped) streamed into SHA-256 or into a string, and back. Internal to rbridge; knows nothing of dag/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "r_values.hpp"

namespace ripple::rbridge {

// How values are serialized. Native is R's "binary" format: the machine's own byte order, written without
// conversion (fast; identical bytes for equal values on one architecture). Xdr is R's portable big-endian
// format, slower; kept for comparison. The cache uses Native and puts value_format() into its keys, so hashes
// and stored bytes are never mixed across byte orders.
enum class ValueFormat { Native, Xdr };

// "R-serialize-3/binary/little-endian" (or .../xdr): goes into the key's environment part.
std::string value_format(ValueFormat format = ValueFormat::Native);

struct ValueDigest {
    std::string hash;        // SHA-256 of the serialization after its header, lowercase hex
    std::uint64_t bytes = 0; // how many bytes were hashed
};

// Streams R_Serialize(value) into SHA-256 without materializing it. The header (format, R version, native
// encoding) is skipped, so equal values hash alike under every R version writing format 3. Values made only
// of plain parts (NULL, non-ALTREP atomic vectors and lists, attribute pairlists) are written by a faster
// writer of our own producing exactly R's bytes (Native format only); everything else goes to R_Serialize. nullopt if R
// could not serialize the value (the R error is contained, nothing is printed). Call on R's thread.
std::optional<ValueDigest> value_digest(SEXP value, ValueFormat format = ValueFormat::Native);
std::optional<std::string> value_hash(SEXP value);

// The serialization after its header: SHA-256 of these bytes is value_hash(value).
std::optional<std::string> serialize_value(SEXP value, ValueFormat format = ValueFormat::Native);

// The serialization after its header written to fd while hashed: its digest is value_digest(value)'s. nullopt if R
// could not serialize it or a write failed (a full disk). Call on R's thread (or in a forked child).
std::optional<ValueDigest> write_value(SEXP value, int fd);

// Rebuilds a value from serialize_value() bytes, with this session's header in front. Empty (get() ==
// nullptr) when the bytes are not a complete serialization; R errors are contained.
// `mapped`: the payload is a read-only file mapping (page-aligned), whose pages may be dropped once read.
PreservedObject unserialize_value(std::string_view payload, ValueFormat format = ValueFormat::Native,
                                  bool mapped = false);

namespace detail {
// Test hooks. The native payload written by R_Serialize alone, and by the fast writer alone (nullopt when the
// value is not made only of plain parts, so value_digest() would hand it to R_Serialize).
std::optional<std::string> serialize_value_with_r(SEXP value);
std::optional<std::string> serialize_value_plain(SEXP value);
} // namespace detail

} // namespace ripple::rbridge
