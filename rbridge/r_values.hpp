// r_values.hpp: small tools for talking to R from C++ safely: protection, guarded calls, conversions.
// Must not know about Jupyter or the engine; internal to rbridge (other rooms never include R headers).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#define R_NO_REMAP
#include <Rinternals.h>

namespace ripple::rbridge {

// PROTECTs what it is given and UNPROTECTs all of it when the scope ends.
class ProtectScope {
public:
    ProtectScope() = default;
    ~ProtectScope() {
        if (count_ > 0) Rf_unprotect(count_);
    }
    ProtectScope(const ProtectScope&) = delete;
    ProtectScope& operator=(const ProtectScope&) = delete;
    SEXP operator()(SEXP value) {
        Rf_protect(value);
        ++count_;
        return value;
    }

private:
    int count_ = 0;
};

// Keeps one R object alive across calls (R_PreserveObject) for as long as it lives.
class PreservedObject {
public:
    PreservedObject() = default;
    explicit PreservedObject(SEXP value) : value_(value) {
        if (value_) R_PreserveObject(value_);
    }
    ~PreservedObject() {
        if (value_) R_ReleaseObject(value_);
    }
    PreservedObject(const PreservedObject&) = delete;
    PreservedObject& operator=(const PreservedObject&) = delete;
    PreservedObject(PreservedObject&& other) noexcept : value_(other.value_) { other.value_ = nullptr; }
    PreservedObject& operator=(PreservedObject&& other) noexcept {
        if (this != &other) {
            if (value_) R_ReleaseObject(value_);
            value_ = other.value_;
            other.value_ = nullptr;
        }
        return *this;
    }
    SEXP get() const { return value_; }

private:
    SEXP value_ = nullptr;
};

// Calls fun(args...) in the global environment; any R error or jump is contained.
// Returns nullptr when the call did not complete normally.
SEXP call_guarded(SEXP fun, const std::vector<SEXP>& args);

// Evaluates R source text (for start-up code written by us); returns false on error.
bool eval_text_guarded(const std::string& code);

// Looks up an internal function of the `ripple` R support package.
SEXP ripple_function(const char* name);

// Element of a named list, or R_NilValue.
SEXP list_element(SEXP list, const char* name);
std::string as_string(SEXP value, const std::string& fallback = "");
std::vector<std::string> as_strings(SEXP value);
bool as_bool(SEXP value, bool fallback = false);

// Converts plain R data (NULL, atomic vectors, lists) into JSON: length-one vectors become
// scalars unless they carry the class "AsIs"; named lists become objects.
nlohmann::json to_json(SEXP value);
// The reverse, for answers sent to R code: objects become named lists, arrays of strings character
// vectors, other arrays lists. The result is not protected.
SEXP from_json(const nlohmann::json& value);

} // namespace ripple::rbridge
