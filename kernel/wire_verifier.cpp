// wire_verifier.cpp: checks on inbound Jupyter messages, in the order SPEC section 7 gives (size, shape, signature
// before any parsing, replay, JSON objects, field types), and the rate-limited log of what was dropped.
#include "wire_verifier.hpp"

#include <algorithm>
#include <array>
#include <iostream>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace ripple::kernel {

namespace {

const std::string kDelimiter = "<IDS|MSG>";

// What a field of a header or a request's content must hold.
enum class FieldType { String, StringOrNull, Bool, Object, Count, Integer, StringMap };

struct FieldRule {
    const char* name;
    FieldType type;
    bool required;
};

struct MessageRule {
    bool shell, control, stdin_; // sockets it may arrive on
    std::vector<FieldRule> fields;
};

// The requests a kernel answers (Jupyter messaging 5.3), with the content fields each may carry.
const std::map<std::string, MessageRule>& message_rules() {
    using F = FieldType;
    static const std::map<std::string, MessageRule> rules = {
        {"execute_request",
         {true,
          true,
          false,
          {{"code", F::String, true},
           {"silent", F::Bool, false},
           {"store_history", F::Bool, false},
           {"user_expressions", F::StringMap, false},
           {"allow_stdin", F::Bool, false},
           {"stop_on_error", F::Bool, false}}}},
        {"complete_request", {true, true, false, {{"code", F::String, true}, {"cursor_pos", F::Count, false}}}},
        {"inspect_request",
         {true,
          true,
          false,
          {{"code", F::String, true}, {"cursor_pos", F::Count, false}, {"detail_level", F::Count, false}}}},
        {"history_request",
         {true,
          true,
          false,
          {{"output", F::Bool, false},
           {"raw", F::Bool, false},
           {"hist_access_type", F::String, false},
           {"session", F::Integer, false},
           {"start", F::Integer, false},
           {"stop", F::Integer, false},
           {"n", F::Count, false},
           {"pattern", F::String, false},
           {"unique", F::Bool, false}}}},
        {"is_complete_request", {true, true, false, {{"code", F::String, true}}}},
        {"comm_info_request", {true, true, false, {{"target_name", F::String, false}}}},
        {"kernel_info_request", {true, true, false, {}}},
        {"comm_open",
         {true,
          false,
          false,
          {{"comm_id", F::String, true},
           {"target_name", F::String, true},
           {"data", F::Object, false},
           {"target_module", F::StringOrNull, false}}}},
        {"comm_msg", {true, false, false, {{"comm_id", F::String, true}, {"data", F::Object, false}}}},
        {"comm_close", {true, false, false, {{"comm_id", F::String, true}, {"data", F::Object, false}}}},
        {"shutdown_request", {true, true, false, {{"restart", F::Bool, false}}}},
        {"interrupt_request", {false, true, false, {}}},
        {"input_reply", {false, false, true, {{"value", F::String, true}}}},
    };
    return rules;
}

bool has_type(const nl::json& value, FieldType type) {
    switch (type) {
    case FieldType::String: return value.is_string();
    case FieldType::StringOrNull: return value.is_string() || value.is_null();
    case FieldType::Bool: return value.is_boolean();
    case FieldType::Object: return value.is_object();
    case FieldType::Integer: return value.is_number_integer();
    case FieldType::Count:
        return value.is_number_unsigned() || (value.is_number_integer() && value.get<long long>() >= 0);
    case FieldType::StringMap:
        return value.is_object() &&
               std::all_of(value.begin(), value.end(), [](const nl::json& item) { return item.is_string(); });
    }
    return false;
}

const char* type_name(FieldType type) {
    switch (type) {
    case FieldType::String: return "a string";
    case FieldType::StringOrNull: return "a string or null";
    case FieldType::Bool: return "true or false";
    case FieldType::Object: return "an object";
    case FieldType::Integer: return "an integer";
    case FieldType::Count: return "a non-negative integer";
    case FieldType::StringMap: return "an object of strings";
    }
    return "?";
}

// A null in an optional field counts as absent and is taken out (clients send `"stop": null`), so that nothing
// downstream reads a null where it expects a value; a required field must hold its type.
std::optional<std::string> check_fields(nl::json& object, const std::vector<FieldRule>& rules, const char* where) {
    for (const auto& rule : rules) {
        auto found = object.find(rule.name);
        if (found != object.end() && found->is_null() && !rule.required) {
            object.erase(found);
            continue;
        }
        if (found == object.end()) {
            if (rule.required) return std::string(where) + " has no '" + rule.name + "'";
            continue;
        }
        if (!has_type(*found, rule.type)) {
            return std::string(where) + " field '" + rule.name + "' must be " + type_name(rule.type);
        }
    }
    return std::nullopt;
}

// The longest a cursor_pos into UTF-8 text can be: protocol 5.2 counts code points, but some front ends count
// UTF-16 units, where a character outside the BMP (a 4-byte sequence) is two.
std::size_t longest_cursor(const std::string& text) {
    std::size_t units = 0;
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if ((byte & 0xC0) != 0x80) units += byte >= 0xF0 ? 2 : 1;
    }
    return units;
}

std::optional<std::string> check_content(const std::string& msg_type, nl::json& content, const MessageRule& rule) {
    if (auto problem = check_fields(content, rule.fields, "content")) return problem;
    if (auto cursor = content.find("cursor_pos"); cursor != content.end()) {
        if (cursor->get<unsigned long long>() > longest_cursor(content.at("code").get<std::string>())) {
            return "content field 'cursor_pos' is past the end of 'code'";
        }
    }
    if (msg_type == "history_request") {
        if (auto access = content.find("hist_access_type"); access != content.end()) {
            const auto& kind = access->get_ref<const std::string&>();
            if (kind != "range" && kind != "tail" && kind != "search") {
                return "content field 'hist_access_type' must be range, tail or search";
            }
        }
    }
    return std::nullopt;
}

const std::vector<FieldRule>& header_rules() {
    using F = FieldType;
    static const std::vector<FieldRule> rules = {{"msg_id", F::String, true},   {"msg_type", F::String, true},
                                                 {"session", F::String, false}, {"username", F::String, false},
                                                 {"version", F::String, false}, {"date", F::String, false}};
    return rules;
}

std::optional<nl::json> parse_object(const zmq::message_t& frame) {
    const char* begin = static_cast<const char*>(frame.data());
    nl::json value = nl::json::parse(begin, begin + frame.size(), nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded() || !value.is_object()) return std::nullopt;
    return value;
}

Verdict reject(RejectKind kind, std::string detail) {
    return Verdict{std::nullopt, Rejection{kind, std::move(detail)}};
}

} // namespace

const char* describe(RejectKind kind) {
    switch (kind) {
    case RejectKind::TooLarge: return "too large";
    case RejectKind::BadShape: return "malformed frames";
    case RejectKind::BadSignature: return "bad signature";
    case RejectKind::Replay: return "replayed signature";
    case RejectKind::NotJson: return "not JSON objects";
    case RejectKind::BadHeader: return "bad header";
    case RejectKind::UnknownType: return "unknown message type";
    case RejectKind::BadContent: return "malformed content";
    }
    return "?";
}

// One HMAC context keyed once; each message gets a copy of it, so checks never share state between threads or
// messages.
struct WireVerifier::Mac {
    EVP_MAC* mac = nullptr;
    EVP_MAC_CTX* keyed = nullptr;
    ~Mac() {
        EVP_MAC_CTX_free(keyed);
        EVP_MAC_free(mac);
    }
};

WireVerifier::WireVerifier(const std::string& scheme, const std::string& key) {
    if (key.empty()) return;
    const std::string prefix = "hmac-";
    if (scheme.rfind(prefix, 0) != 0) throw std::runtime_error("unsupported signature scheme '" + scheme + "'");
    std::string digest = scheme.substr(prefix.size());
    if (EVP_get_digestbyname(digest.c_str()) == nullptr) {
        throw std::runtime_error("unsupported signature scheme '" + scheme + "'");
    }
    mac_ = std::make_unique<Mac>();
    mac_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    mac_->keyed = mac_->mac ? EVP_MAC_CTX_new(mac_->mac) : nullptr;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
                           OSSL_PARAM_construct_end()};
    if (mac_->keyed == nullptr ||
        EVP_MAC_init(mac_->keyed, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) != 1) {
        throw std::runtime_error("OpenSSL could not set up HMAC for '" + scheme + "'");
    }
}

WireVerifier::~WireVerifier() = default;

bool WireVerifier::signature_matches(const zmq::message_t& signature, const zmq::message_t* parts) const {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(mac_->keyed);
    if (ctx == nullptr) return false;
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    std::size_t length = 0;
    bool ok = true;
    for (int i = 0; i < 4 && ok; ++i) {
        ok = EVP_MAC_update(ctx, static_cast<const unsigned char*>(parts[i].data()), parts[i].size()) == 1;
    }
    ok = ok && EVP_MAC_final(ctx, digest.data(), &length, digest.size()) == 1;
    EVP_MAC_CTX_free(ctx);
    if (!ok) return false;
    static const char* hex = "0123456789abcdef";
    std::string expected(length * 2, '0');
    for (std::size_t i = 0; i < length; ++i) {
        expected[2 * i] = hex[digest[i] >> 4];
        expected[2 * i + 1] = hex[digest[i] & 0xF];
    }
    // The length of a signature is public (the scheme fixes it); its bytes are compared in constant time.
    return signature.size() == expected.size() &&
           CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) == 0;
}

bool WireVerifier::seen_before(const std::string& signature) {
    if (!seen_.insert(signature).second) return true;
    seen_order_.push_back(signature);
    if (seen_order_.size() > kRememberedSignatures) {
        seen_.erase(seen_order_.front());
        seen_order_.pop_front();
    }
    return false;
}

Verdict WireVerifier::verify(const zmq::multipart_t& wire, InboundSocket socket) {
    // 1. Size and shape: identities, the delimiter, signature, four JSON frames, buffers.
    std::size_t total = 0;
    for (const auto& frame : wire) total += frame.size();
    if (total > kMaxMessageBytes) return reject(RejectKind::TooLarge, "the message is over 256 MB");
    std::size_t delimiter = 0;
    while (delimiter < wire.size() && delimiter <= kMaxIdentities && wire[delimiter].to_string_view() != kDelimiter) {
        ++delimiter;
    }
    if (delimiter >= wire.size() || delimiter > kMaxIdentities) {
        return reject(RejectKind::BadShape, "no <IDS|MSG> delimiter after at most 32 identities");
    }
    std::size_t first = delimiter + 2; // header, after the signature
    if (wire.size() < first + 4) return reject(RejectKind::BadShape, "fewer than the six frames a message needs");
    if (wire.size() - first - 4 > kMaxBuffers) return reject(RejectKind::BadShape, "more than 256 binary buffers");
    const zmq::message_t& signature = wire[delimiter + 1];
    const zmq::message_t* parts = &wire[first];

    // 2. The signature, over the exact frames, before anything is parsed; then replays of one already seen.
    if (mac_) {
        if (!signature_matches(signature, parts))
            return reject(RejectKind::BadSignature, "the signature does not match");
        if (seen_before(signature.to_string())) return reject(RejectKind::Replay, "the signature was seen before");
    }

    // 3. JSON objects, a header with string fields, a message type this socket takes.
    std::array<nl::json, 4> json;
    static const char* names[] = {"header", "parent_header", "metadata", "content"};
    for (int i = 0; i < 4; ++i) {
        auto parsed = parse_object(parts[i]);
        if (!parsed) return reject(RejectKind::NotJson, std::string("the ") + names[i] + " is not a JSON object");
        json[i] = std::move(*parsed);
    }
    if (auto problem = check_fields(json[0], header_rules(), "the header")) {
        return reject(RejectKind::BadHeader, *problem);
    }
    const std::string msg_type = json[0]["msg_type"].get<std::string>();
    const auto& rules = message_rules();
    auto rule = rules.find(msg_type);
    bool allowed = rule != rules.end() && (socket == InboundSocket::Shell     ? rule->second.shell
                                           : socket == InboundSocket::Control ? rule->second.control
                                                                              : rule->second.stdin_);
    if (!allowed)
        return reject(RejectKind::UnknownType, "'" + msg_type.substr(0, 64) + "' is not taken on this socket");

    xeus::xmessage::guid_list identities;
    for (std::size_t i = 0; i < delimiter; ++i) identities.push_back(wire[i].to_string());
    xeus::buffer_sequence buffers;
    for (std::size_t i = first + 4; i < wire.size(); ++i) {
        const char* data = static_cast<const char*>(wire[i].data());
        buffers.emplace_back(data, data + wire[i].size());
    }
    // 4. Content: a signed message with a valid header whose content is wrong still comes back, so that the sender
    // can be told where a reply is due.
    std::optional<std::string> problem = check_content(msg_type, json[3], rule->second);
    Verdict verdict;
    verdict.message.emplace(identities, std::move(json[0]), std::move(json[1]), std::move(json[2]), std::move(json[3]),
                            std::move(buffers));
    if (problem) verdict.rejection = Rejection{RejectKind::BadContent, *problem};
    return verdict;
}

std::optional<std::string> reply_type_for(const std::string& request_type) {
    const std::string suffix = "_request";
    if (request_type.size() <= suffix.size() ||
        request_type.compare(request_type.size() - suffix.size(), suffix.size(), suffix) != 0) {
        return std::nullopt;
    }
    return request_type.substr(0, request_type.size() - suffix.size()) + "_reply";
}

void RejectionLog::note(const char* channel, const Rejection& rejection) {
    ++pending_[rejection.kind];
    last_detail_ = std::string(channel) + ": " + rejection.detail;
    flush_if_due();
}

void RejectionLog::flush_if_due() {
    if (pending_.empty()) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_line_ < interval_) return;
    last_line_ = now;
    write_summary();
}

void RejectionLog::write_summary() {
    std::size_t total = 0;
    std::string counts;
    for (const auto& [kind, count] : pending_) {
        total += count;
        counts += (counts.empty() ? "" : ", ") + std::to_string(count) + " " + describe(kind);
    }
    std::cerr << "ripple-kernel: dropped " << total << (total == 1 ? " message" : " messages") << " (" << counts
              << "); last on " << last_detail_ << std::endl;
    pending_.clear();
}

} // namespace ripple::kernel
