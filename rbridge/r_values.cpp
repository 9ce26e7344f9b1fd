// r_values.cpp: guarded calls into R and conversions of plain R data to C++/JSON.
// Must not know about Jupyter or the engine.
#include "r_values.hpp"

#include <R_ext/Parse.h>

namespace ripple::rbridge {

SEXP call_guarded(SEXP fun, const std::vector<SEXP>& args) {
    ProtectScope protect;
    SEXP call = protect(Rf_allocVector(LANGSXP, static_cast<R_xlen_t>(args.size() + 1)));
    SETCAR(call, fun);
    SEXP cursor = CDR(call);
    for (SEXP arg : args) {
        // Arguments are values: code objects must not be evaluated as the call's arguments.
        bool is_code = TYPEOF(arg) == LANGSXP || TYPEOF(arg) == SYMSXP || TYPEOF(arg) == PROMSXP;
        SETCAR(cursor, is_code ? Rf_lang2(Rf_install("quote"), arg) : arg);
        cursor = CDR(cursor);
    }
    int error = 0;
    SEXP result = R_tryEvalSilent(call, R_GlobalEnv, &error);
    return error ? nullptr : result;
}

bool eval_text_guarded(const std::string& code) {
    ProtectScope protect;
    ParseStatus status = PARSE_NULL;
    SEXP text = protect(Rf_mkString(code.c_str()));
    SEXP exprs = protect(R_ParseVector(text, -1, &status, R_NilValue));
    if (status != PARSE_OK) return false;
    for (R_xlen_t i = 0; i < Rf_xlength(exprs); ++i) {
        int error = 0;
        R_tryEvalSilent(VECTOR_ELT(exprs, i), R_GlobalEnv, &error);
        if (error) return false;
    }
    return true;
}

SEXP ripple_function(const char* name) {
    // Found once: R_FindNamespace calls getNamespace(), an R closure, which cost more than the analysis call it
    // served (issue 15). A loaded namespace stays in R's registry; the preserved reference keeps it alive anyway.
    static SEXP ns = nullptr;
    if (ns == nullptr) {
        ProtectScope protect;
        SEXP found = R_FindNamespace(protect(Rf_mkString("ripple")));
        R_PreserveObject(found);
        ns = found;
    }
    SEXP fun = Rf_findVarInFrame(ns, Rf_install(name));
    if (TYPEOF(fun) == PROMSXP) fun = Rf_eval(fun, ns);
    return fun;
}

SEXP list_element(SEXP list, const char* name) {
    if (TYPEOF(list) != VECSXP) return R_NilValue;
    SEXP names = Rf_getAttrib(list, R_NamesSymbol);
    if (names == R_NilValue) return R_NilValue;
    for (R_xlen_t i = 0; i < Rf_xlength(list); ++i) {
        if (std::string_view(Rf_translateCharUTF8(STRING_ELT(names, i))) == name) return VECTOR_ELT(list, i);
    }
    return R_NilValue;
}

std::string as_string(SEXP value, const std::string& fallback) {
    if (TYPEOF(value) != STRSXP || Rf_xlength(value) < 1 || STRING_ELT(value, 0) == NA_STRING) return fallback;
    return Rf_translateCharUTF8(STRING_ELT(value, 0));
}

std::vector<std::string> as_strings(SEXP value) {
    std::vector<std::string> out;
    if (TYPEOF(value) != STRSXP) return out;
    out.reserve(static_cast<size_t>(Rf_xlength(value)));
    for (R_xlen_t i = 0; i < Rf_xlength(value); ++i) {
        SEXP s = STRING_ELT(value, i);
        out.emplace_back(s == NA_STRING ? "NA" : Rf_translateCharUTF8(s));
    }
    return out;
}

bool as_bool(SEXP value, bool fallback) {
    if (TYPEOF(value) != LGLSXP || Rf_xlength(value) < 1 || LOGICAL(value)[0] == NA_LOGICAL) return fallback;
    return LOGICAL(value)[0] != 0;
}

namespace {

nlohmann::json element_to_json(SEXP value, R_xlen_t i) {
    switch (TYPEOF(value)) {
    case LGLSXP:
        return LOGICAL(value)[i] == NA_LOGICAL ? nlohmann::json(nullptr) : nlohmann::json(LOGICAL(value)[i] != 0);
    case INTSXP: return INTEGER(value)[i] == NA_INTEGER ? nlohmann::json(nullptr) : nlohmann::json(INTEGER(value)[i]);
    case REALSXP: return ISNAN(REAL(value)[i]) ? nlohmann::json(nullptr) : nlohmann::json(REAL(value)[i]);
    case STRSXP:
        return STRING_ELT(value, i) == NA_STRING ? nlohmann::json(nullptr)
                                                 : nlohmann::json(Rf_translateCharUTF8(STRING_ELT(value, i)));
    default: return nullptr;
    }
}

} // namespace

nlohmann::json to_json(SEXP value) {
    switch (TYPEOF(value)) {
    case NILSXP: return nullptr;
    case LGLSXP:
    case INTSXP:
    case REALSXP:
    case STRSXP: {
        R_xlen_t n = Rf_xlength(value);
        if (n == 1 && !Rf_inherits(value, "AsIs")) return element_to_json(value, 0);
        nlohmann::json array = nlohmann::json::array();
        for (R_xlen_t i = 0; i < n; ++i) array.push_back(element_to_json(value, i));
        return array;
    }
    case VECSXP: {
        SEXP names = Rf_getAttrib(value, R_NamesSymbol);
        if (names != R_NilValue) {
            nlohmann::json object = nlohmann::json::object();
            for (R_xlen_t i = 0; i < Rf_xlength(value); ++i) {
                object[Rf_translateCharUTF8(STRING_ELT(names, i))] = to_json(VECTOR_ELT(value, i));
            }
            return object;
        }
        nlohmann::json array = nlohmann::json::array();
        for (R_xlen_t i = 0; i < Rf_xlength(value); ++i) array.push_back(to_json(VECTOR_ELT(value, i)));
        return array;
    }
    default: return nullptr;
    }
}

SEXP from_json(const nlohmann::json& value) {
    if (value.is_null()) return R_NilValue;
    if (value.is_boolean()) return Rf_ScalarLogical(value.get<bool>() ? TRUE : FALSE);
    if (value.is_number_integer()) return Rf_ScalarInteger(value.get<int>());
    if (value.is_number()) return Rf_ScalarReal(value.get<double>());
    if (value.is_string()) return Rf_mkString(value.get<std::string>().c_str());
    if (value.is_array()) {
        bool strings = !value.empty();
        for (const auto& item : value) strings = strings && item.is_string();
        if (strings || value.empty()) {
            SEXP out = PROTECT(Rf_allocVector(STRSXP, static_cast<R_xlen_t>(value.size())));
            for (size_t i = 0; i < value.size(); ++i) {
                SET_STRING_ELT(out, static_cast<R_xlen_t>(i),
                               Rf_mkCharCE(value[i].get<std::string>().c_str(), CE_UTF8));
            }
            UNPROTECT(1);
            return out;
        }
        SEXP out = PROTECT(Rf_allocVector(VECSXP, static_cast<R_xlen_t>(value.size())));
        for (size_t i = 0; i < value.size(); ++i) SET_VECTOR_ELT(out, static_cast<R_xlen_t>(i), from_json(value[i]));
        UNPROTECT(1);
        return out;
    }
    SEXP out = PROTECT(Rf_allocVector(VECSXP, static_cast<R_xlen_t>(value.size())));
    SEXP names = PROTECT(Rf_allocVector(STRSXP, static_cast<R_xlen_t>(value.size())));
    R_xlen_t i = 0;
    for (const auto& [key, item] : value.items()) {
        SET_STRING_ELT(names, i, Rf_mkCharCE(key.c_str(), CE_UTF8));
        SET_VECTOR_ELT(out, i++, from_json(item));
    }
    Rf_setAttrib(out, R_NamesSymbol, names);
    UNPROTECT(2);
    return out;
}

} // namespace ripple::rbridge
