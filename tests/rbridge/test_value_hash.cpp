// test_value_hash.cpp: doctest unit tests of value hashing and (un)serialization against a real embedded R:
// equal values hash alike, different values differ, the header is skipped, bytes round-trip, failures are quiet.
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <openssl/evp.h>

#include "rbridge/r_session.hpp"
#include "rbridge/r_values.hpp"
#include "rbridge/value_hash.hpp"

#include <R_ext/Parse.h>
#include <Rversion.h>

using namespace ripple::rbridge;

namespace {

RSession& r_session() {
    try {
        return RSession::get();
    } catch (const std::logic_error&) {
        return RSession::start({RIPPLE_BUILD_R_LIBRARY, false});
    }
}

// Console text R wrote while the test ran (a contained error must print nothing).
struct ConsoleRecorder final : OutputSink {
    std::string text;
    void stream(StreamName, std::string_view t) override { text += t; }
    void display(const MimeBundle&, const std::string&, bool) override {}
    void result(const MimeBundle&) override {}
    void error(const ErrorInfo& e) override { text += e.evalue; }
    void clear_output(bool) override {}
    void page(const MimeBundle&) override {}
};

struct RFixture {
    RFixture() { r_session(); }
    ~RFixture() { r_session().set_sink(nullptr); }
    RFixture(const RFixture&) = delete;
    RFixture& operator=(const RFixture&) = delete;

    // Evaluates R code and keeps its value alive for the test.
    SEXP eval(const std::string& code) {
        ProtectScope protect;
        ParseStatus status = PARSE_NULL;
        SEXP exprs = protect(R_ParseVector(protect(Rf_mkString(code.c_str())), -1, &status, R_NilValue));
        REQUIRE(status == PARSE_OK);
        SEXP value = R_NilValue;
        for (R_xlen_t i = 0; i < Rf_xlength(exprs); ++i) {
            int error = 0;
            value = R_tryEvalSilent(VECTOR_ELT(exprs, i), R_GlobalEnv, &error);
            REQUIRE(error == 0);
        }
        kept.emplace_back(value);
        return value;
    }
    bool identical(SEXP a, SEXP b) { return as_bool(call_guarded(Rf_install("identical"), {a, b})); }

    std::vector<PreservedObject> kept;
};

std::string sha256_hex(std::string_view bytes) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr);
    std::string hex;
    for (unsigned int i = 0; i < size; ++i) {
        static constexpr char kHex[] = "0123456789abcdef";
        hex.push_back(kHex[digest[i] >> 4U]);
        hex.push_back(kHex[digest[i] & 0x0fU]);
    }
    return hex;
}

std::string raw_bytes(SEXP raw) {
    REQUIRE(TYPEOF(raw) == RAWSXP);
    return std::string(reinterpret_cast<const char*>(RAW(raw)), static_cast<size_t>(Rf_xlength(raw)));
}

} // namespace

TEST_CASE_FIXTURE(RFixture, "equal values hash alike, even when built separately") {
    SEXP a = eval("data.frame(x = c(1.5, 2.5), y = c('a', 'b'), stringsAsFactors = FALSE)");
    SEXP b = eval("data.frame(x = c(3, 5) / 2, y = letters[1:2], stringsAsFactors = FALSE)");
    auto ha = value_hash(a), hb = value_hash(b);
    REQUIRE(ha);
    REQUIRE(hb);
    CHECK(ha->size() == 64);
    CHECK(*ha == *hb);
    CHECK(*value_hash(eval("c(1, 2, 3)")) == *value_hash(eval("cumsum(c(1, 1, 1))")));

    CHECK(*value_hash(eval("list(a = 1L, b = list('x', NA))")) == *value_hash(eval("list(a = 1L, b = list('x', NA))")));
}

TEST_CASE_FIXTURE(RFixture, "a function keeps its hash after the JIT compiles it, alone or in a list") {
    SEXP f = eval("f <- function(x) x + 1; f");
    SEXP in_list = eval("list(f = f, n = 1)");
    std::string before = *value_hash(f);
    std::string list_before = *value_hash(in_list);
    eval("for (i in 1:5) f(i)");
    SEXP compiled = eval("f");
    SEXP type_of_body = eval("typeof(.Internal(bodyCode(f)))");
    CHECK(as_string(type_of_body) == "bytecode");
    CHECK(*value_hash(compiled) == before);
    CHECK(*value_hash(in_list) == list_before);
    CHECK(*value_hash(eval("function(x) x + 1")) == before);
    CHECK(*value_hash(eval("function(x) x + 2")) != before);
    PreservedObject back = unserialize_value(*serialize_value(compiled));
    REQUIRE(back.get() != nullptr);
    CHECK(identical(back.get(), compiled));
}

TEST_CASE_FIXTURE(RFixture, "different values, types or attributes hash differently") {
    std::set<std::string> hashes;
    for (const char* code : {"c(1, 2, 3)", "c(1, 2, 4)", "c(1L, 2L, 3L)", "c(a = 1, b = 2, c = 3)", "list(1, 2, 3)",
                             "'1'", "factor(c('a', 'b'))", "factor(c('b', 'a'))", "NULL", "NA", "NA_real_", "-0", "0",
                             "\"caf\\u00e9\"", "\"cafe\""}) {
        auto hash = value_hash(eval(code));
        REQUIRE(hash);
        CHECK_MESSAGE(hashes.insert(*hash).second, code);
    }
}

TEST_CASE_FIXTURE(RFixture, "the hash is the SHA-256 of serialize_value's bytes, the same every time") {
    SEXP value = eval("set.seed(1); list(v = runif(200000), s = as.character(1:5000), m = matrix(1:6, 2))");
    auto first = value_digest(value);
    auto second = value_digest(value);
    auto bytes = serialize_value(value);
    REQUIRE(first);
    REQUIRE(second);
    REQUIRE(bytes);
    CHECK(first->hash == second->hash);
    CHECK(first->bytes == bytes->size());
    CHECK(first->bytes > 1600000);
    CHECK(sha256_hex(*bytes) == first->hash);
    CHECK(*serialize_value(value) == *bytes);
}

TEST_CASE_FIXTURE(RFixture, "the skipped header is exactly R's header: format, versions and native encoding") {
    for (ValueFormat format : {ValueFormat::Native, ValueFormat::Xdr}) {
        SEXP value = eval("list(x = c(3.25, NA), label = 'r\\u00e9sum\\u00e9', f = function(a) a + 1)");
        // Serialize the same object with R's own serialize() and compare after the header.
        SEXP serialize_fun = Rf_install("serialize");
        ProtectScope protect;
        SEXP call_result =
            protect(call_guarded(serialize_fun, {value, R_NilValue, Rf_ScalarLogical(FALSE),
                                                 Rf_ScalarLogical(format == ValueFormat::Xdr), Rf_ScalarInteger(3)}));
        std::string full = raw_bytes(call_result);
        auto payload = serialize_value(value, format);
        REQUIRE(payload);
        REQUIRE(full.size() > payload->size());
        std::size_t header_length = full.size() - payload->size();
        CHECK(full.substr(0, 2) == (format == ValueFormat::Xdr ? "X\n" : "B\n"));
        CHECK(full.substr(header_length) == *payload);
        // 2 bytes format + 4 ints + the name of the native encoding ("UTF-8" here): 23 bytes.
        const std::string native = as_string(eval("l10n_info()$codeset"));
        CHECK(native == "UTF-8");
        CHECK(header_length == 18 + native.size());
        CHECK(full.substr(18, native.size()) == native);
        // The writer's R version is in the skipped part, so it cannot change the hash.
        int writer_version = 0;
        std::memcpy(&writer_version, full.data() + 6, 4);
        if (format == ValueFormat::Xdr)
            writer_version = static_cast<int>(__builtin_bswap32(static_cast<unsigned>(writer_version)));
        CHECK(writer_version == R_VERSION);
        CHECK(value_digest(value, format)->hash == sha256_hex(full.substr(header_length)));
    }
}

TEST_CASE_FIXTURE(RFixture, "native and XDR formats are told apart in the key and give different hashes") {
    SEXP value = eval("c(1.5, 2.5)");
    CHECK(value_format() == "R-serialize-3/binary/little-endian");
    CHECK(value_format(ValueFormat::Xdr) == "R-serialize-3/xdr");
    CHECK(value_digest(value, ValueFormat::Native)->hash != value_digest(value, ValueFormat::Xdr)->hash);
}

TEST_CASE_FIXTURE(RFixture, "serialize then unserialize gives an identical value") {
    for (const char* code :
         {"mtcars", "list(a = 1:3, b = list(c = 'x', d = NULL), e = NA_character_)", "factor(c('lo', 'hi', 'lo'))",
          "matrix(c(1.5, NA, Inf, -Inf), 2, dimnames = list(c('r1', 'r2'), c('c1', 'c2')))", "\"na\\u00efve \\u2603\"",
          "as.Date('2024-02-29') + 0:3", "function(x, y = 2) x * y", "quote(a + b * c)",
          "structure(1:3, class = 'myclass', note = 'kept')", "raw(0)", "complex(real = 1, imaginary = -1)"}) {
        SEXP value = eval(code);
        auto bytes = serialize_value(value);
        REQUIRE_MESSAGE(bytes, code);
        PreservedObject back = unserialize_value(*bytes);
        REQUIRE_MESSAGE(back.get() != nullptr, code);
        CHECK_MESSAGE(identical(value, back.get()), code);
        CHECK_MESSAGE(*value_hash(back.get()) == *value_hash(value), code);
    }
    SEXP xdr_value = eval("list(p = pi, s = 'xdr')");
    PreservedObject xdr_back = unserialize_value(*serialize_value(xdr_value, ValueFormat::Xdr), ValueFormat::Xdr);
    REQUIRE(xdr_back.get() != nullptr);
    CHECK(identical(xdr_value, xdr_back.get()));
}

TEST_CASE_FIXTURE(RFixture, "damaged bytes give no value, and R prints nothing") {
    ConsoleRecorder console;
    r_session().set_sink(&console);
    SEXP value = eval("list(x = runif(1000), y = letters)");
    std::string bytes = *serialize_value(value);
    CHECK(unserialize_value(std::string_view(bytes).substr(0, bytes.size() / 2)).get() == nullptr);
    CHECK(unserialize_value("").get() == nullptr);
    CHECK(unserialize_value(std::string(64, '\xff')).get() == nullptr);
    CHECK(unserialize_value(bytes + "trailing").get() == nullptr);
    r_session().flush_console();
    CHECK(console.text.empty());
    // The session is still fine afterwards.
    PreservedObject back = unserialize_value(bytes);
    REQUIRE(back.get() != nullptr);
    CHECK(identical(value, back.get()));
}

namespace {

// Where two byte strings first differ, for a readable failure.
std::string first_difference(const std::string& a, const std::string& b) {
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    return "sizes " + std::to_string(a.size()) + " / " + std::to_string(b.size()) + ", first difference at byte " +
           std::to_string(i);
}

} // namespace

TEST_CASE_FIXTURE(RFixture, "the fast writer produces exactly R_Serialize's bytes for plain values") {
    eval(R"(
        vh_latin1 <- iconv('caf\u00e9 na\u00efve', 'UTF-8', 'latin1')
        vh_bytes <- 'caf\xe9'; Encoding(vh_bytes) <- 'bytes'
        vh_strings <- c('plain', 'caf\u00e9', '\u2603 snow', vh_latin1, vh_bytes, '', strrep('long', 300))
        vh_na <- function(x, n) { if (n > 0) x[sample.int(n, max(1L, n %/% 5L), replace = TRUE)] <- NA; x }
        vh_frame <- function(n) data.frame(
            i = vh_na(sample.int(1000L, n, TRUE), n), d = vh_na(c(runif(n), NaN, -0, Inf)[seq_len(n)], n),
            ch = vh_na(sample(vh_strings, n, TRUE), n), f = vh_na(factor(sample(c('lo', 'mid', 'hi'), n, TRUE)), n),
            l = vh_na(sample(c(TRUE, FALSE), n, TRUE), n),
            z = vh_na(complex(real = runif(n), imaginary = rnorm(n)), n),
            day = vh_na(as.Date('2024-01-01') + sample.int(400L, n, TRUE), n), stringsAsFactors = FALSE)
        vh_attr <- c(1.5, 2.5)
        attr(vh_attr, 'meta') <- structure(c(a = 1L, b = 2L), units = structure('cm', note = 'nested'), class = 'unit')
    )");
    std::vector<std::string> plain_values = {
        "NULL",
        "TRUE",
        "NA",
        "c(TRUE, NA, FALSE)",
        "c(1L, NA, -5L)",
        "c(1.5, NA, NaN, -0, Inf, -Inf)",
        "complex(real = c(1, NA), imaginary = c(-1, 2))",
        "as.raw(c(0, 1, 255))",
        "raw(0)",
        "integer(0)",
        "numeric(0)",
        "logical(0)",
        "complex(0)",
        "character(0)",
        "list()",
        "NA_character_",
        "c('a', NA, 'b', NA)",
        "vh_strings",
        "vh_latin1",
        "vh_bytes",
        "letters",
        "'caf\\u00e9'",
        "c(a = 1, b = 2)",
        "matrix(c(1.5, 2, 3, 4), 2)",
        "matrix(c(1L, 2L, 3L, 4L), 2, dimnames = list(c('r1', 'r2'), NULL))",
        "array(c(1.5, 2, 3, 4, 5, 6, 7, 8), c(2, 2, 2))",
        "factor(c('lo', 'hi', NA, 'lo'))",
        "factor(c('b', 'a'), levels = c('b', 'a', 'z'), ordered = TRUE)",
        "as.Date('2024-02-29') + c(0, 3)",
        "as.POSIXct('2024-01-01 10:00:00', tz = 'UTC') + c(0, 60)",
        "structure(list(), names = character(0))",
        "list(NULL, NULL)",
        "list(a = NULL, b = list(c = NULL, d = list(e = 1.5, f = 'x')))",
        "list(a = list(b = list(c = list(d = list(e = c(TRUE, NA))))))",
        "setNames(c(1, 2, 3), c(strrep('n', 5000), 'x', ''))",
        "structure(c(1, 2), names = c('a', NA))",
        "list(f1 = factor('a'), f2 = factor('b'), f3 = factor(c('a', 'b')), d = as.Date('2024-01-01') + 0)",
        "vh_attr",
        "list(vh_attr, vh_attr, x = vh_attr)",
        "structure(c(1, 2), class = c('a', 'b'), x = NULL)",
        "structure(list(1, 'a'), class = 'myclass', extra = list(k = 'v'))",
        "vh_frame(0)",
        "vh_frame(1)",
        "vh_frame(5)[0, ]",
        "data.frame()",
        "list(vh_frame(3), vh_frame(3))",
        "I(list(1, 'a', NULL))",
        "setNames(as.list(c(1, 2, 3)), c('caf\\u00e9', vh_latin1, 'x'))",
        "structure(1.5, '\\u00e9t\\u00e9' = 'summer')",
        "summary(c(1, 2, 3, 4))",
        "table(c('a', 'b', 'a'))",
        "lapply(split(c(1, 2, 3, 4), c('a', 'b', 'a', 'b')), c)",
        "mtcars",
        "iris",
    };
    for (int seed = 1; seed <= 25; ++seed) {
        int rows = seed <= 3 ? seed - 1 : (seed * 37) % 700;
        plain_values.push_back("{ set.seed(" + std::to_string(seed) + "); vh_frame(" + std::to_string(rows) + ") }");
    }
    for (const std::string& code : plain_values) {
        SEXP value = eval(code);
        auto by_r = detail::serialize_value_with_r(value);
        auto plain = detail::serialize_value_plain(value);
        REQUIRE_MESSAGE(by_r, code);
        REQUIRE_MESSAGE(plain, code); // the value takes the fast path
        CHECK_MESSAGE(*plain == *by_r, code, ": ", first_difference(*plain, *by_r));
        auto digest = value_digest(value);
        REQUIRE_MESSAGE(digest, code);
        CHECK_MESSAGE(digest->hash == sha256_hex(*by_r), code);
        CHECK_MESSAGE(digest->bytes == by_r->size(), code);
        CHECK_MESSAGE(*serialize_value(value) == *by_r, code);
        PreservedObject back = unserialize_value(*plain);
        REQUIRE_MESSAGE(back.get() != nullptr, code);
        CHECK_MESSAGE(identical(value, back.get()), code);
    }
}

TEST_CASE_FIXTURE(RFixture, "values with non-plain parts are serialized whole by R, and hash as before") {
    eval("setClass('VhPerson', representation(name = 'character')); setClass('VhNum', contains = 'numeric')");
    for (const char* code :
         {"function(x) x + 1", "new.env()", "globalenv()", "1:10", "seq_len(5)", "as.character(1:3)", "y ~ x + z",
          "quote(a + b)", "quote(x)", "pairlist(a = 1)", "new('VhPerson', name = 'a')", "new('VhNum', c(1, 2))",
          "list(a = 1, f = function() 1)", "list(1, list(2, 1:10))", "data.frame(id = 1:5, x = c(1, 2, 3, 4, 5))",
          "structure(c(1, 2), meta = 1:3)", "list(e = emptyenv())", "expression(1 + 2)"}) {
        SEXP value = eval(code);
        CHECK_MESSAGE(!detail::serialize_value_plain(value), code);
        auto by_r = detail::serialize_value_with_r(value);
        REQUIRE_MESSAGE(by_r, code);
        CHECK_MESSAGE(*serialize_value(value) == *by_r, code);
        CHECK_MESSAGE(*value_hash(value) == sha256_hex(*by_r), code);
    }
    // XDR always goes through R.
    SEXP value = eval("list(a = c(1.5, 2.5), b = letters)");
    SEXP serialize_fun = Rf_install("serialize");
    ProtectScope protect;
    std::string full = raw_bytes(protect(call_guarded(
        serialize_fun, {value, R_NilValue, Rf_ScalarLogical(FALSE), Rf_ScalarLogical(TRUE), Rf_ScalarInteger(3)})));
    auto xdr = serialize_value(value, ValueFormat::Xdr);
    REQUIRE(xdr);
    CHECK(full.substr(full.size() - xdr->size()) == *xdr);
}
