// hash_bench.cpp: value hashing throughput (rbridge::value_digest: R_Serialize streamed into SHA-256) on a large
// numeric vector and a data.frame, side by side with digest::digest(x, "sha256") in the same embedded R session.
// A benchmark, not a test: prints a table and (with --json) one JSON object. Knows rbridge only.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "rbridge/r_session.hpp"
#include "rbridge/r_values.hpp"
#include "rbridge/value_hash.hpp"

#include <R_ext/Parse.h>

using namespace ripple::rbridge;
using Clock = std::chrono::steady_clock;

namespace {

SEXP eval_r(const std::string& code) {
    ProtectScope protect;
    ParseStatus status = PARSE_NULL;
    SEXP exprs = protect(R_ParseVector(protect(Rf_mkString(code.c_str())), -1, &status, R_NilValue));
    if (status != PARSE_OK) throw std::runtime_error("cannot parse: " + code);
    SEXP value = R_NilValue;
    for (R_xlen_t i = 0; i < Rf_xlength(exprs); ++i) {
        int error = 0;
        value = R_tryEvalSilent(VECTOR_ELT(exprs, i), R_GlobalEnv, &error);
        if (error) throw std::runtime_error("R failed on: " + code);
    }
    return value;
}

template <typename F>
double median_seconds(int repeats, F&& run) {
    std::vector<double> times;
    for (int i = 0; i < repeats; ++i) {
        auto start = Clock::now();
        run();
        times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

nlohmann::json measure(const std::string& name, const std::string& symbol, int repeats, bool with_digest) {
    PreservedObject value(eval_r(symbol));
    std::optional<ValueDigest> probe = value_digest(value.get());
    if (!probe) throw std::runtime_error("value_digest failed on " + name);
    const double bytes = static_cast<double>(probe->bytes);
    auto mb_per_s = [bytes](double seconds) { return bytes / 1e6 / seconds; };

    double native = median_seconds(repeats, [&] { value_digest(value.get(), ValueFormat::Native); });
    double xdr = median_seconds(repeats, [&] { value_digest(value.get(), ValueFormat::Xdr); });
    double materialize = median_seconds(repeats, [&] { serialize_value(value.get()); });
    nlohmann::json out = {{"value", name},
                          {"serialized_bytes", probe->bytes},
                          {"value_hash_native_s", native},
                          {"value_hash_native_MBps", mb_per_s(native)},
                          {"value_hash_xdr_s", xdr},
                          {"value_hash_xdr_MBps", mb_per_s(xdr)},
                          {"serialize_value_s", materialize},
                          {"serialize_value_MBps", mb_per_s(materialize)}};
    if (TYPEOF(value.get()) == REALSXP) {
        // The ceiling: SHA-256 alone over the vector's memory, no serialization.
        const auto* data = REAL(value.get());
        const auto size = static_cast<std::size_t>(Rf_xlength(value.get())) * sizeof(double);
        double raw = median_seconds(repeats, [&] {
            unsigned char digest[EVP_MAX_MD_SIZE];
            unsigned int length = 0;
            EVP_Digest(data, size, digest, &length, EVP_sha256(), nullptr);
        });
        out["sha256_of_memory_MBps"] = static_cast<double>(size) / 1e6 / raw;
    }
    if (with_digest) {
        PreservedObject digest_call(eval_r("quote(digest::digest(" + symbol + ", \"sha256\"))"));
        eval_r("invisible(digest::digest(1, 'sha256'))"); // load the package outside the timing
        double digest = median_seconds(repeats, [&] {
            int error = 0;
            R_tryEvalSilent(digest_call.get(), R_GlobalEnv, &error);
            if (error) throw std::runtime_error("digest::digest failed");
        });
        out["digest_sha256_s"] = digest;
        out["digest_sha256_MBps"] = mb_per_s(digest);
        out["speedup_vs_digest"] = digest / native;
    }
    return out;
}

} // namespace

int main(int argc, char* argv[]) {
    std::map<std::string, std::string> flags;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--json") json = true;
        else if (i + 1 < argc) flags[arg] = argv[++i];
        else {
            std::cerr << "usage: hash_bench [--mb 200] [--rows 1000000] [--repeats 5] [--no-digest 1] [--json]\n";
            return 2;
        }
    }
    auto flag = [&](const char* name, double fallback) {
        return flags.count(name) ? std::stod(flags[name]) : fallback;
    };
    const double mb = flag("--mb", 200);
    const long rows = static_cast<long>(flag("--rows", 1e6));
    const int repeats = static_cast<int>(flag("--repeats", 5));
    const bool with_digest = flag("--no-digest", 0) == 0;

    const char* library = std::getenv("RIPPLE_R_LIBRARY");
    RSession::start({library != nullptr && *library != '\0' ? library : RIPPLE_BUILD_R_LIBRARY, false});
    try {
        eval_r("set.seed(42); bench_vector <- runif(" + std::to_string(static_cast<long>(mb * 1e6 / 8)) + ")");
        std::string n = std::to_string(rows);
        eval_r("bench_frame <- data.frame(id = sample.int(" + n + "), x = runif(" + n + "), y = rnorm(" + n +
               "), g = sample(letters, " + n + ", TRUE), f = factor(sample(c('lo', 'mid', 'hi'), " + n +
               ", TRUE)), flag = sample(c(TRUE, FALSE, NA), " + n + ", TRUE), stringsAsFactors = FALSE)");
        nlohmann::json results = nlohmann::json::array();
        results.push_back(measure("numeric vector (" + std::to_string(static_cast<long>(mb)) + " MB)", "bench_vector",
                                  repeats, with_digest));
        results.push_back(
            measure("data.frame (" + n + " rows: int, 2 dbl, chr, factor, lgl)", "bench_frame", repeats, with_digest));
        nlohmann::json report = {
            {"repeats", repeats},
            {"value_format", value_format()},
            {"r_version", as_string(eval_r("R.version.string"))},
            {"digest_version", with_digest ? as_string(eval_r("as.character(packageVersion('digest'))")) : ""},
            {"results", results}};
        if (json) {
            std::cout << report.dump(2) << std::endl;
            return 0;
        }
        for (const auto& r : results) {
            std::cout << r["value"].get<std::string>() << ", " << r["serialized_bytes"].get<std::uint64_t>() / 1000000
                      << " MB serialized (median of " << repeats << ")\n"
                      << "  value_hash (binary, streamed): " << r["value_hash_native_MBps"].get<double>() << " MB/s\n"
                      << "  value_hash (xdr, streamed):    " << r["value_hash_xdr_MBps"].get<double>() << " MB/s\n"
                      << "  serialize_value (to bytes):    " << r["serialize_value_MBps"].get<double>() << " MB/s\n";
            if (r.contains("sha256_of_memory_MBps")) {
                std::cout << "  SHA-256 of the raw memory:     " << r["sha256_of_memory_MBps"].get<double>()
                          << " MB/s (ceiling)\n";
            }
            if (r.contains("digest_sha256_MBps")) {
                std::cout << "  digest::digest(x, 'sha256'):   " << r["digest_sha256_MBps"].get<double>() << " MB/s"
                          << "  -> value_hash is " << r["speedup_vs_digest"].get<double>() << "x faster\n";
            }
        }
    } catch (const std::exception& error) {
        std::cerr << "hash_bench: " << error.what() << "\n";
        return 1;
    }
    return 0;
}
