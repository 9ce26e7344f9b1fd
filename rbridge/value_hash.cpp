// value_hash.cpp: R_Serialize into SHA-256 (or a string) through a custom output stream, skipping the header
// (plain values: our own writer of the same bytes, see "the fast writer");
// R_Unserialize from bytes with this session's header. Every R call runs inside R_ToplevelExec + R_tryCatchError
// so an R error neither longjmps through C++ frames nor prints. No dag/, no Jupyter.
#include "value_hash.hpp"

#include <array>
#include <bit>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <unordered_map>
#include <vector>

#include <cerrno>

#include <openssl/evp.h>
#include <sys/mman.h>
#include <unistd.h>

namespace ripple::rbridge {

namespace {

constexpr int kSerializeVersion = 3;
// Header of format 3: 2 bytes format ("B\n" / "X\n"), 3 ints (format version, writer's R version, oldest R
// version that reads it), 1 int (length of the native encoding's name), then that name.
constexpr std::size_t kFixedHeaderBytes = 2 + 4 * 4;
constexpr std::size_t kMaxEncodingName = 63;         // R_CODESET_MAX
constexpr std::size_t kDirectUpdateBytes = 4 * 1024; // larger writes go to SHA-256 without a copy

// A 64 KB buffer lent from a small per-thread pool. Each hash had allocated and zeroed two fresh ones: 16 page
// faults apiece once glibc had given the memory back, 10% of a warm catch-up that hashes hundreds of small
// parsed cells. A buffer is not zeroed; one asked for while the pool is empty is allocated for the occasion.
class ScratchBuffer {
public:
    ScratchBuffer() = default;
    ScratchBuffer(const ScratchBuffer&) = delete;
    ScratchBuffer& operator=(const ScratchBuffer&) = delete;
    ~ScratchBuffer() {
        if (bytes_ && pool().size() < kPoolSize) pool().push_back(std::move(bytes_));
    }
    void lease() {
        if (bytes_) return;
        if (!pool().empty()) {
            bytes_ = std::move(pool().back());
            pool().pop_back();
        } else {
            bytes_.reset(new unsigned char[kBytes]); // default-initialised: not zeroed
        }
    }
    unsigned char* data() { return bytes_.get(); }
    std::size_t size() const { return bytes_ ? kBytes : 0; }

private:
    static constexpr std::size_t kBytes = 64 * 1024;
    static constexpr std::size_t kPoolSize = 4;
    static std::vector<std::unique_ptr<unsigned char[]>>& pool() {
        thread_local std::vector<std::unique_ptr<unsigned char[]>> buffers;
        return buffers;
    }
    std::unique_ptr<unsigned char[]> bytes_;
};

R_pstream_format_t stream_format(ValueFormat format) {
    return format == ValueFormat::Xdr ? R_pstream_xdr_format : R_pstream_binary_format;
}

// Separates the header from the payload as bytes stream past, whatever the chunking of R's writes.
class HeaderSkipper {
public:
    explicit HeaderSkipper(ValueFormat format) : format_(format) {}

    // How many of the n bytes belong to the header (they are kept in header()).
    std::size_t consume(const unsigned char* data, std::size_t n) {
        std::size_t taken = 0;
        while (taken < n && !done()) {
            std::size_t take = std::min(expected_ - header_.size(), n - taken);
            header_.append(reinterpret_cast<const char*>(data) + taken, take);
            taken += take;
            if (!length_known_ && header_.size() == kFixedHeaderBytes) {
                expected_ = kFixedHeaderBytes + encoding_name_length();
                length_known_ = true;
            }
        }
        return taken;
    }
    bool done() const { return length_known_ && header_.size() == expected_; }
    const std::string& header() const { return header_; }

private:
    std::size_t encoding_name_length() const {
        std::array<unsigned char, 4> raw{};
        std::memcpy(raw.data(), header_.data() + kFixedHeaderBytes - 4, 4);
        std::uint32_t length = 0;
        if (format_ == ValueFormat::Xdr || std::endian::native == std::endian::big) {
            length = (std::uint32_t{raw[0]} << 24U) | (std::uint32_t{raw[1]} << 16U) | (std::uint32_t{raw[2]} << 8U) |
                     std::uint32_t{raw[3]};
        } else {
            length = (std::uint32_t{raw[3]} << 24U) | (std::uint32_t{raw[2]} << 16U) | (std::uint32_t{raw[1]} << 8U) |
                     std::uint32_t{raw[0]};
        }
        return std::min<std::size_t>(length, kMaxEncodingName);
    }

    ValueFormat format_;
    std::string header_;
    std::size_t expected_ = kFixedHeaderBytes;
    bool length_known_ = false;
};

struct DigestContextFreer {
    void operator()(EVP_MD_CTX* context) const noexcept { EVP_MD_CTX_free(context); }
};

// Writes all of n bytes to fd, retrying short writes; false on an error (ENOSPC, EIO).
bool write_all(int fd, const unsigned char* data, std::size_t n) noexcept {
    while (n > 0) {
        ssize_t written = ::write(fd, data, n);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return false;
        data += written;
        n -= static_cast<std::size_t>(written);
    }
    return true;
}

// Receives R's serialization: the header is set aside, the payload goes into SHA-256 (through a buffer that
// gathers R's many small writes) or into a string; with a file descriptor, into SHA-256 and the file alike.
class SerializationTap {
public:
    SerializationTap(ValueFormat format, std::string* collect, int fd = -1)
            : skipper_(format), collect_(collect), fd_(fd) {
        if (collect_ == nullptr) {
            digest_.reset(EVP_MD_CTX_new());
            if (!digest_ || EVP_DigestInit_ex(digest_.get(), EVP_sha256(), nullptr) != 1) digest_.reset();
            buffer_.lease();
        }
    }
    bool ready() const { return collect_ != nullptr || digest_ != nullptr; }

    // False when out of memory: the caller turns that into an R error outside any C++ scope.
    bool write(const void* data, std::size_t n) noexcept {
        const auto* bytes = static_cast<const unsigned char*>(data);
        if (!skipper_.done()) {
            std::size_t header_bytes = 0;
            try {
                header_bytes = skipper_.consume(bytes, n);
            } catch (...) {
                return false;
            }
            bytes += header_bytes;
            n -= header_bytes;
        }
        return write_payload(bytes, n);
    }

    // Payload bytes (after the header, or the fast writer's output, which has none).
    bool write_payload(const void* data, std::size_t n) noexcept {
        if (n == 0) return true;
        payload_bytes_ += n;
        if (collect_ != nullptr) {
            try {
                collect_->append(static_cast<const char*>(data), n);
            } catch (...) {
                return false;
            }
            return true;
        }
        if (n >= kDirectUpdateBytes) {
            if (!flush()) return false;
            EVP_DigestUpdate(digest_.get(), data, n);
            return fd_ < 0 || write_all(fd_, static_cast<const unsigned char*>(data), n);
        }
        if (used_ + n > buffer_.size() && !flush()) return false;
        std::memcpy(buffer_.data() + used_, data, n);
        used_ += n;
        return true;
    }

    // Empty when writing to the file failed.
    std::string hex_digest() {
        if (!flush()) return std::string();
        std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
        unsigned int size = 0;
        EVP_DigestFinal_ex(digest_.get(), digest.data(), &size);
        static constexpr char kHex[] = "0123456789abcdef";
        std::string hex;
        for (unsigned int i = 0; i < size; ++i) {
            hex.push_back(kHex[digest[i] >> 4U]);
            hex.push_back(kHex[digest[i] & 0x0fU]);
        }
        return hex;
    }
    std::uint64_t payload_bytes() const { return payload_bytes_; }
    const std::string& header() const { return skipper_.header(); }

private:
    bool flush() {
        bool ok = true;
        if (used_ > 0) {
            EVP_DigestUpdate(digest_.get(), buffer_.data(), used_);
            ok = fd_ < 0 || write_all(fd_, buffer_.data(), used_);
        }
        used_ = 0;
        return ok;
    }

    HeaderSkipper skipper_;
    std::string* collect_;
    int fd_ = -1;
    std::unique_ptr<EVP_MD_CTX, DigestContextFreer> digest_;
    ScratchBuffer buffer_;
    std::size_t used_ = 0;
    std::uint64_t payload_bytes_ = 0;
};

// --- R callbacks: plain frames (no C++ objects with destructors), since Rf_error longjmps out of them ---

void out_bytes(R_outpstream_t stream, void* data, int length) {
    auto* tap = static_cast<SerializationTap*>(stream->data);
    if (!tap->write(data, static_cast<std::size_t>(length))) Rf_error("out of memory while serializing a value");
}

void out_char(R_outpstream_t stream, int c) {
    auto byte = static_cast<unsigned char>(c);
    out_bytes(stream, &byte, 1);
}

struct PayloadReader {
    std::string_view header;
    std::string_view payload;
    std::size_t position = 0;
    // A payload mapped from a file (page-aligned): pages already read are dropped from this process (madvise), so a
    // large value does not stand in memory twice, as file pages and as the R object, while it is rebuilt.
    bool drop_behind = false;
    std::size_t dropped = 0;

    void drop_consumed() {
        constexpr std::size_t kStep = std::size_t{64} << 20U;
        if (!drop_behind || position < header.size()) return;
        const std::size_t consumed = position - header.size();
        if (consumed < dropped + kStep) return;
        const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        const std::size_t until = consumed / page * page;
        ::madvise(const_cast<char*>(payload.data()) + dropped, until - dropped, MADV_DONTNEED);
        dropped = until;
    }

    std::size_t size() const { return header.size() + payload.size(); }
    bool read(void* out, std::size_t n) {
        if (n > size() - position) return false;
        auto* target = static_cast<char*>(out);
        while (n > 0) {
            std::string_view part =
                position < header.size() ? header.substr(position) : payload.substr(position - header.size());
            std::size_t take = std::min(n, part.size());
            std::memcpy(target, part.data(), take);
            target += take;
            position += take;
            n -= take;
        }
        drop_consumed();
        return true;
    }
};

void in_bytes(R_inpstream_t stream, void* buffer, int length) {
    auto* reader = static_cast<PayloadReader*>(stream->data);
    if (!reader->read(buffer, static_cast<std::size_t>(length))) Rf_error("the serialized value is truncated");
}

int in_char(R_inpstream_t stream) {
    unsigned char c = 0;
    in_bytes(stream, &c, 1);
    return c;
}

// --- the form that is serialized ---------------------------------------------------------------------

constexpr int kMaxListDepth = 64;

// The value with every closure (itself, or inside plain lists) rebuilt from its source expression: after a
// function's second call the JIT swaps its body for bytecode and flags it, which would change its bytes
// while it is still the same function. Allocates: call inside the guarded region only.
SEXP stable_form(SEXP value, int depth) {
    if (TYPEOF(value) == CLOSXP) {
        SEXP rebuilt = PROTECT(Rf_allocSExp(CLOSXP));
        SET_FORMALS(rebuilt, FORMALS(value));
        SET_BODY(rebuilt, R_ClosureExpr(value));
        SET_CLOENV(rebuilt, CLOENV(value));
        DUPLICATE_ATTRIB(rebuilt, value);
        UNPROTECT(1);
        return rebuilt;
    }
    if (TYPEOF(value) != VECSXP || depth >= kMaxListDepth) return value;
    SEXP copy = R_NilValue;
    const R_xlen_t n = Rf_xlength(value);
    for (R_xlen_t i = 0; i < n; ++i) {
        SEXP element = VECTOR_ELT(value, i);
        SEXP stable = stable_form(element, depth + 1);
        if (stable == element) continue;
        if (copy == R_NilValue) {
            PROTECT(stable);
            copy = Rf_shallow_duplicate(value);
            UNPROTECT(1);
            PROTECT(copy);
        }
        SET_VECTOR_ELT(copy, i, stable);
    }
    if (copy == R_NilValue) return value;
    UNPROTECT(1);
    return copy;
}

// --- the fast writer ---------------------------------------------------------------------------------
//
// R's serializer spends ~30 ns on every CHARSXP (stack check, special-value hook, ref-table lookup, three
// OutBytes callbacks), which caps a data.frame with a character column near 400 MB/s. Values made only of
// plain parts are written here instead, byte for byte what WriteItem (src/main/serialize.c, R 4.x, format 3,
// native binary) writes after the header, so every hash is unchanged:
//   NULL: NILVALUE_SXP. Non-ALTREP logical/integer/double/complex/raw vectors: PackFlags, WriteLENGTH, the
//   data. Character vectors: flags, length, then each CHARSXP (flags with only its encoding/ASCII bits, i.e.
//   LEVELS without CACHED and HASHASH; then -1 for NA_STRING, or its length and bytes). Lists: flags, length,
//   each element. After the payload, when there are attributes, the attribute pairlist: per cell flags (tag
//   bit), the cell's own attributes, its tag, its value; then NILVALUE_SXP for the final cdr. A tag symbol is
//   SYMSXP + its PRINTNAME the first time and a REFSXP with its ref-table index (1-based, in order of first
//   occurrence) afterwards.
// Anything else anywhere inside the value (ALTREP, which format 3 writes as ALTREP_SXP; environments;
// closures; S4 objects, even those built on a vector; pairlist values; special symbols) sends the whole value to R_Serialize: the two are never mixed.

constexpr int kRefSxp = 255;
constexpr int kNilValueSxp = 254;
constexpr int kObjectBit = 1 << 8;
constexpr int kAttrBit = 1 << 9;
constexpr int kTagBit = 1 << 10;
constexpr int kLevelsShift = 12;
constexpr int kCharsxpDroppedLevels = (1 << 5) | 1; // CACHED_MASK | HASHASH_MASK, never written
constexpr int kMaxPackedRefIndex = INT_MAX >> 8;
constexpr int kMaxPlainDepth = 256; // deeper values take R's path (which checks the C stack)
constexpr std::size_t kWriterDirectBytes = 4 * 1024;

bool plain_attributes(SEXP cell, int depth);

// Whether R_Serialize would write this value with only the cases PlainWriter replicates.
bool is_plain(SEXP value, int depth) {
    if (value == R_NilValue) return true;
    if (depth > kMaxPlainDepth || ALTREP(value) != 0 || IS_S4_OBJECT(value) != 0) return false;
    switch (TYPEOF(value)) {
    case LGLSXP:
    case INTSXP:
    case REALSXP:
    case CPLXSXP:
    case RAWSXP:
    case STRSXP: // elements of a non-ALTREP character vector are always CHARSXPs
        break;
    case VECSXP: {
        const R_xlen_t n = XLENGTH(value);
        for (R_xlen_t i = 0; i < n; ++i) {
            if (!is_plain(VECTOR_ELT(value, i), depth + 1)) return false;
        }
        break;
    }
    default: return false;
    }
    return plain_attributes(ATTRIB(value), depth + 1);
}

bool plain_attributes(SEXP cell, int depth) {
    if (depth > kMaxPlainDepth) return false;
    for (; cell != R_NilValue; cell = CDR(cell)) {
        if (TYPEOF(cell) != LISTSXP) return false;
        SEXP tag = TAG(cell);
        if (TYPEOF(tag) != SYMSXP || tag == R_MissingArg || tag == R_UnboundValue) return false;
        if (TYPEOF(PRINTNAME(tag)) != CHARSXP) return false;
        if (!plain_attributes(ATTRIB(cell), depth + 1) || !is_plain(CAR(cell), depth + 1)) return false;
    }
    return true;
}

// PackFlags(type, LEVELS(s), OBJECT(s), hasattr, hastag).
int pack_flags(SEXP s, int type, bool has_attributes, bool has_tag) {
    int levels = LEVELS(s);
    if (type == CHARSXP) levels &= ~kCharsxpDroppedLevels;
    int flags = type | (levels << kLevelsShift);
    if (OBJECT(s) != 0) flags |= kObjectBit;
    if (has_attributes) flags |= kAttrBit;
    if (has_tag) flags |= kTagBit;
    return flags;
}

// Writes a value for which is_plain() holds. Allocates nothing in R and calls nothing that can raise an R
// error, so it runs outside the guarded region.
class PlainWriter {
public:
    explicit PlainWriter(SerializationTap& tap) : tap_(tap) { buffer_.lease(); }

    bool write(SEXP value) {
        item(value);
        flush();
        return ok_;
    }

private:
    void item(SEXP s) {
        if (s == R_NilValue) {
            out_int(kNilValueSxp);
            return;
        }
        const int type = TYPEOF(s);
        SEXP attributes = ATTRIB(s);
        const bool has_attributes = attributes != R_NilValue;
        out_int(pack_flags(s, type, has_attributes, false));
        const R_xlen_t n = XLENGTH(s);
        out_length(n);
        const auto count = static_cast<std::size_t>(n);
        switch (type) {
        case LGLSXP:
        case INTSXP: out_bytes(DATAPTR_RO(s), count * sizeof(int)); break;
        case REALSXP: out_bytes(DATAPTR_RO(s), count * sizeof(double)); break;
        case CPLXSXP: out_bytes(DATAPTR_RO(s), count * sizeof(Rcomplex)); break;
        case RAWSXP: out_bytes(DATAPTR_RO(s), count); break;
        case STRSXP: {
            const SEXP* elements = STRING_PTR_RO(s);
            for (std::size_t i = 0; i < count; ++i) charsxp(elements[i]);
            break;
        }
        case VECSXP:
            for (R_xlen_t i = 0; i < n; ++i) item(VECTOR_ELT(s, i));
            break;
        default: break; // excluded by is_plain
        }
        if (has_attributes) pairlist(attributes);
    }

    void pairlist(SEXP cell) {
        for (; cell != R_NilValue; cell = CDR(cell)) {
            SEXP attributes = ATTRIB(cell);
            const bool has_attributes = attributes != R_NilValue;
            out_int(pack_flags(cell, LISTSXP, has_attributes, true));
            if (has_attributes) pairlist(attributes);
            symbol(TAG(cell));
            item(CAR(cell));
        }
        out_int(kNilValueSxp);
    }

    void symbol(SEXP sym) {
        auto [entry, added] = refs_.try_emplace(sym, static_cast<int>(refs_.size()) + 1);
        if (!added) {
            if (entry->second > kMaxPackedRefIndex) {
                out_int(kRefSxp);
                out_int(entry->second);
            } else {
                out_int((entry->second << 8) | kRefSxp);
            }
            return;
        }
        out_int(SYMSXP);
        charsxp(PRINTNAME(sym));
    }

    void charsxp(SEXP c) {
        // Character columns repeat few strings: their flags, length and bytes are remembered by address (nothing
        // is allocated while writing, so no CHARSXP moves or dies). NA_STRING is written with length -1.
        CachedString& cached = string_cache_[(reinterpret_cast<std::uintptr_t>(c) >> 4U) % kStringCacheSlots];
        if (cached.charsxp != c) {
            cached.charsxp = c;
            cached.flags = pack_flags(c, CHARSXP, false, false);
            cached.length = c == NA_STRING ? -1 : LENGTH(c);
            cached.bytes = c == NA_STRING ? nullptr : R_CHAR(c);
        }
        const std::size_t n = cached.length > 0 ? static_cast<std::size_t>(cached.length) : 0;
        if (n < kWriterDirectBytes && used_ + 2 * sizeof(int) + n <= buffer_.size()) {
            unsigned char* at = buffer_.data() + used_;
            std::memcpy(at, &cached.flags, sizeof(int));
            std::memcpy(at + sizeof(int), &cached.length, sizeof(int));
            if (n > 0) std::memcpy(at + 2 * sizeof(int), cached.bytes, n);
            used_ += 2 * sizeof(int) + n;
            return;
        }
        out_two_ints(cached.flags, cached.length);
        out_bytes(cached.bytes, n);
    }

    void out_length(R_xlen_t n) {
        if (n > R_SHORT_LEN_MAX) {
            constexpr R_xlen_t kWord = 4294967296L;
            out_int(-1);
            out_int(static_cast<int>(n / kWord));
            out_int(static_cast<int>(n % kWord));
        } else {
            out_int(static_cast<int>(n));
        }
    }

    void out_int(int value) {
        if (used_ + sizeof(int) > buffer_.size()) flush();
        std::memcpy(buffer_.data() + used_, &value, sizeof(int));
        used_ += sizeof(int);
    }
    void out_two_ints(int first, int second) {
        if (used_ + 2 * sizeof(int) > buffer_.size()) flush();
        std::memcpy(buffer_.data() + used_, &first, sizeof(int));
        std::memcpy(buffer_.data() + used_ + sizeof(int), &second, sizeof(int));
        used_ += 2 * sizeof(int);
    }
    void out_bytes(const void* data, std::size_t n) {
        if (n >= kWriterDirectBytes) {
            flush();
            if (ok_ && !tap_.write_payload(data, n)) ok_ = false;
            return;
        }
        if (used_ + n > buffer_.size()) flush();
        if (n > 0) std::memcpy(buffer_.data() + used_, data, n);
        used_ += n;
    }
    void flush() {
        if (used_ > 0 && ok_ && !tap_.write_payload(buffer_.data(), used_)) ok_ = false;
        used_ = 0;
    }

    SerializationTap& tap_;
    ScratchBuffer buffer_;
    std::size_t used_ = 0;
    bool ok_ = true;
    std::unordered_map<SEXP, int> refs_;
    struct CachedString {
        SEXP charsxp = nullptr;
        int flags = 0;
        int length = 0;
        const char* bytes = nullptr;
    };
    static constexpr std::size_t kStringCacheSlots = 512;
    std::vector<CachedString> string_cache_ = std::vector<CachedString>(kStringCacheSlots);
};

bool write_plain(SEXP value, SerializationTap& tap) {
    if (!tap.ready()) return false;
    try {
        PlainWriter writer(tap);
        return writer.write(value);
    } catch (const std::bad_alloc&) {
        return false;
    }
}

// --- guarded execution -------------------------------------------------------------------------------

struct SerializeJob {
    SEXP value;
    SerializationTap* tap;
    ValueFormat format;
    bool completed = false;
};

SEXP serialize_body(void* data) {
    auto* job = static_cast<SerializeJob*>(data);
    R_outpstream_st stream{};
    R_InitOutPStream(&stream, job->tap, stream_format(job->format), kSerializeVersion, out_char, out_bytes, nullptr,
                     R_NilValue);
    R_Serialize(PROTECT(stable_form(job->value, 0)), &stream);
    UNPROTECT(1);
    job->completed = true;
    return R_NilValue;
}

struct UnserializeJob {
    PayloadReader* reader;
    SEXP result = nullptr; // preserved (R_PreserveObject) once complete
};

SEXP unserialize_body(void* data) {
    auto* job = static_cast<UnserializeJob*>(data);
    R_inpstream_st stream{};
    R_InitInPStream(&stream, job->reader, R_pstream_any_format, in_char, in_bytes, nullptr, R_NilValue);
    SEXP value = PROTECT(R_Unserialize(&stream));
    if (job->reader->position == job->reader->size()) {
        R_PreserveObject(value);
        job->result = value;
    }
    UNPROTECT(1);
    return R_NilValue;
}

SEXP swallow_error(SEXP /*condition*/, void* /*data*/) { return R_NilValue; }

template <typename Job>
struct GuardedCall {
    SEXP (*body)(void*);
    Job* job;
};

template <typename Job>
void run_caught(void* data) {
    auto* call = static_cast<GuardedCall<Job>*>(data);
    R_tryCatchError(call->body, call->job, swallow_error, nullptr);
}

// Runs body(job) at top level: R errors are caught silently, anything else (an interrupt) stops at the top level.
template <typename Job>
bool run_guarded(SEXP (*body)(void*), Job& job) {
    GuardedCall<Job> call{body, &job};
    return R_ToplevelExec(run_caught<Job>, &call) == TRUE;
}

bool serialize_into(SEXP value, ValueFormat format, SerializationTap& tap) {
    if (!tap.ready()) return false;
    SerializeJob job{value, &tap, format};
    return run_guarded(serialize_body, job) && job.completed;
}

// The payload of value's serialization into tap: the fast writer when the value is plain and the format
// native, R_Serialize otherwise.
bool serialize_payload(SEXP value, ValueFormat format, SerializationTap& tap) {
    if (format == ValueFormat::Native && is_plain(value, 0)) return write_plain(value, tap);
    return serialize_into(value, format, tap);
}

// This session's header for the format, taken from serializing NULL.
const std::string& session_header(ValueFormat format) {
    static std::array<std::optional<std::string>, 2> headers;
    auto& header = headers[format == ValueFormat::Xdr ? 1 : 0];
    if (!header) {
        std::string ignored;
        SerializationTap tap(format, &ignored);
        if (serialize_into(R_NilValue, format, tap)) header = tap.header();
    }
    static const std::string kNone;
    return header ? *header : kNone;
}

} // namespace

std::string value_format(ValueFormat format) {
    if (format == ValueFormat::Xdr) return "R-serialize-3/xdr";
    return std::endian::native == std::endian::little ? "R-serialize-3/binary/little-endian"
                                                      : "R-serialize-3/binary/big-endian";
}

std::optional<ValueDigest> value_digest(SEXP value, ValueFormat format) {
    SerializationTap tap(format, nullptr);
    if (!serialize_payload(value, format, tap)) return std::nullopt;
    return ValueDigest{tap.hex_digest(), tap.payload_bytes()};
}

std::optional<std::string> value_hash(SEXP value) {
    std::optional<ValueDigest> digest = value_digest(value);
    if (!digest) return std::nullopt;
    return std::move(digest->hash);
}

std::optional<ValueDigest> write_value(SEXP value, int fd) {
    SerializationTap tap(ValueFormat::Native, nullptr, fd);
    if (!serialize_payload(value, ValueFormat::Native, tap)) return std::nullopt;
    std::string hash = tap.hex_digest();
    if (hash.empty()) return std::nullopt;
    return ValueDigest{std::move(hash), tap.payload_bytes()};
}

std::optional<std::string> serialize_value(SEXP value, ValueFormat format) {
    std::string bytes;
    SerializationTap tap(format, &bytes);
    if (!serialize_payload(value, format, tap)) return std::nullopt;
    return bytes;
}

namespace detail {

std::optional<std::string> serialize_value_with_r(SEXP value) {
    std::string bytes;
    SerializationTap tap(ValueFormat::Native, &bytes);
    if (!serialize_into(value, ValueFormat::Native, tap)) return std::nullopt;
    return bytes;
}

std::optional<std::string> serialize_value_plain(SEXP value) {
    if (!is_plain(value, 0)) return std::nullopt;
    std::string bytes;
    SerializationTap tap(ValueFormat::Native, &bytes);
    if (!write_plain(value, tap)) return std::nullopt;
    return bytes;
}

} // namespace detail

PreservedObject unserialize_value(std::string_view payload, ValueFormat format, bool mapped) {
    const std::string& header = session_header(format);
    if (header.empty()) return {};
    PayloadReader reader{header, payload};
    reader.drop_behind = mapped;
    UnserializeJob job{&reader};
    if (!run_guarded(unserialize_body, job) || job.result == nullptr) {
        if (job.result != nullptr) R_ReleaseObject(job.result);
        return {};
    }
    PreservedObject out(job.result);
    R_ReleaseObject(job.result);
    return out;
}

} // namespace ripple::rbridge
