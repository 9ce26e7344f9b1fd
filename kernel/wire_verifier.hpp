// wire_verifier.hpp: the gate every message passes on its way in from a kernel socket: size, frame shape, HMAC over
// the exact frames (constant time), replays, JSON objects, header and content field types. Must not know about R,
// the engine or xeus's kernel core: it turns wire frames into an xeus::xmessage, or says in one sentence why not.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include <xeus/xmessage.hpp>
#include <zmq_addon.hpp>

namespace ripple::kernel {

enum class InboundSocket { Shell, Control, Stdin };

// Why a message was not let in. The order is the order of the checks: nothing after BadSignature is looked at
// unless the signature matched, and nothing is parsed before it.
enum class RejectKind { TooLarge, BadShape, BadSignature, Replay, NotJson, BadHeader, UnknownType, BadContent };

const char* describe(RejectKind kind);

struct Rejection {
    RejectKind kind;
    std::string detail; // one sentence naming what was wrong, for the log or an error reply
};

// The outcome of verify(): an accepted message, or a rejection. A signed message with a valid header whose content
// is malformed (BadContent) keeps its message too: the protocol may owe its sender an error reply.
struct Verdict {
    std::optional<xeus::xmessage> message;
    std::optional<Rejection> rejection;
    bool accepted() const { return message.has_value() && !rejection.has_value(); }
};

class WireVerifier {
public:
    static constexpr std::size_t kMaxMessageBytes = std::size_t{256} << 20; // all frames together
    static constexpr std::size_t kMaxIdentities = 32;
    static constexpr std::size_t kMaxBuffers = 256;
    static constexpr std::size_t kRememberedSignatures = std::size_t{1} << 16; // as jupyter_client's digest history

    // scheme is the connection file's signature_scheme ("hmac-sha256"); an empty key means unsigned messages (Jupyter's
    // convention), and then replays cannot be told apart. Throws std::runtime_error for a scheme OpenSSL lacks.
    WireVerifier(const std::string& scheme, const std::string& key);
    ~WireVerifier();
    WireVerifier(const WireVerifier&) = delete;
    WireVerifier& operator=(const WireVerifier&) = delete;

    Verdict verify(const zmq::multipart_t& wire, InboundSocket socket);

private:
    bool signature_matches(const zmq::message_t& signature, const zmq::message_t* parts) const;
    bool seen_before(const std::string& signature);

    struct Mac;
    std::unique_ptr<Mac> mac_; // null when the key is empty
    std::unordered_set<std::string> seen_;
    std::deque<std::string> seen_order_;
};

// "execute_request" -> "execute_reply"; nothing for messages that get no reply (comm_msg, input_reply, ...).
std::optional<std::string> reply_type_for(const std::string& request_type);

// Rate-limited log of rejections: the first one in full, then at most one summary line per interval with counts
// per kind, so a flood of garbage cannot flood the log (or the disk behind it).
class RejectionLog {
public:
    explicit RejectionLog(std::chrono::milliseconds interval = std::chrono::seconds(1)) : interval_(interval) {}
    void note(const char* channel, const Rejection& rejection);
    void flush_if_due(); // called when idle, so the last summary is not held back forever

private:
    void write_summary();
    std::chrono::milliseconds interval_;
    std::chrono::steady_clock::time_point last_line_{};
    std::map<RejectKind, std::size_t> pending_;
    std::string last_detail_;
};

} // namespace ripple::kernel
