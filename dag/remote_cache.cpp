// remote_cache.cpp: HTTP GET/HEAD/PUT with libcurl (OpenSSL for https), HMAC-SHA256 signatures, the upload thread.
// Must not know about SQLite, R or cells: documents are opaque payloads, values opaque bytes named by their hash.
//
// Invariants:
// (1) Nothing leaves fetch_document() unless its HMAC under the team key verifies and it names the digest asked for.
// (2) Nothing leaves fetch_blob() unless SHA-256(bytes) is the hash asked for.
// (3) A lookup waits at most settings.timeout in all; the first failure of the server turns the remote off.
// (4) The warning handler is called on the owner's thread only (the upload thread queues its lines).
// (5) A document is uploaded only after every value it names is on the server (or was there already).
#include "dag/remote_cache.hpp"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "dag/sha256.hpp"

namespace ripple::dag {

namespace {

constexpr const char* kSignatureTag = "ripple-signed-1 ";
constexpr std::size_t kMinimumKeyBytes = 16;

using Clock = std::chrono::steady_clock;

std::string hex(const unsigned char* bytes, std::size_t size) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out.push_back(digits[bytes[i] >> 4]);
        out.push_back(digits[bytes[i] & 15]);
    }
    return out;
}

std::string hmac_sha256_hex(const std::string& key, const std::string& message) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
         message.size(), mac, &size);
    return hex(mac, size);
}

std::string trimmed(std::string text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    std::size_t start = 0;
    while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
    return text.substr(start);
}

std::optional<std::string> read_small_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return text.str();
}

void initialize_curl_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One answer of the server: a transport failure (`failure` set) or a status and a body.
struct HttpAnswer {
    long status = 0;
    std::string body;
    std::string failure; // curl's description when the request did not complete
};

// One keep-alive connection (a CURL easy handle); one thread uses it.
class HttpConnection {
public:
    HttpConnection(const std::string& bearer_token, std::string ca_file, const std::atomic<bool>* abort)
            : handle_(curl_easy_init()), ca_file_(std::move(ca_file)), abort_(abort) {
        if (!bearer_token.empty())
            headers_ = curl_slist_append(headers_, ("Authorization: Bearer " + bearer_token).c_str());
        headers_ = curl_slist_append(headers_, "Expect:"); // no 100-continue round trip before each PUT
    }
    ~HttpConnection() {
        curl_slist_free_all(headers_);
        if (handle_) curl_easy_cleanup(handle_);
    }
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    enum class Method { Get, Head, Put };

    // `total`: the whole request's bound (reads); `stall`: the longest time without progress (uploads).
    HttpAnswer request(Method method, const std::string& url, const std::string* body, std::chrono::milliseconds total,
                       std::chrono::milliseconds stall) {
        HttpAnswer answer;
        if (!handle_) {
            answer.failure = "libcurl could not be initialized";
            return answer;
        }
        CURL* h = handle_;
        curl_easy_reset(h);
        char error[CURL_ERROR_SIZE] = {0};
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers_);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "ripple-remote-cache/1");
        // https: the peer's certificate and name are always verified (libcurl's defaults, stated here).
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        if (!ca_file_.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca_file_.c_str());
        const auto connect = total.count() > 0 ? std::min(total, stall) : stall;
        const long connect_ms = std::max<long>(1, static_cast<long>(connect.count()));
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
        if (total.count() > 0) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(total.count()));
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, std::max<long>(1, static_cast<long>(stall.count() / 1000)));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &HttpConnection::collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer.body);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &HttpConnection::progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, this);
        UploadSource source{body ? std::string_view(*body) : std::string_view()};
        switch (method) {
        case Method::Get: curl_easy_setopt(h, CURLOPT_HTTPGET, 1L); break;
        case Method::Head: curl_easy_setopt(h, CURLOPT_NOBODY, 1L); break;
        case Method::Put:
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, &HttpConnection::supply);
            curl_easy_setopt(h, CURLOPT_READDATA, &source);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(source.bytes.size()));
            break;
        }
        CURLcode code = curl_easy_perform(h);
        if (code != CURLE_OK) {
            answer.failure = error[0] ? std::string(error) : std::string(curl_easy_strerror(code));
            return answer;
        }
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &answer.status);
        return answer;
    }

private:
    struct UploadSource {
        std::string_view bytes;
    };
    static size_t collect(char* data, size_t size, size_t count, void* target) {
        static_cast<std::string*>(target)->append(data, size * count);
        return size * count;
    }
    static size_t supply(char* buffer, size_t size, size_t count, void* from) {
        auto* source = static_cast<UploadSource*>(from);
        const size_t n = std::min(size * count, source->bytes.size());
        std::copy_n(source->bytes.data(), n, buffer);
        source->bytes.remove_prefix(n);
        return n;
    }
    static int progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
        const auto* connection = static_cast<HttpConnection*>(self);
        return connection->abort_ && connection->abort_->load() ? 1 : 0;
    }

    CURL* handle_;
    std::string ca_file_;
    curl_slist* headers_ = nullptr;
    const std::atomic<bool>* abort_;
};

struct UploadJob {
    std::string digest;
    std::string document; // signed
    std::vector<std::string> blob_hashes;
};

} // namespace

std::optional<RemoteCacheSettings>
RemoteCacheSettings::from_environment(const std::function<void(const std::string&)>& warn) {
    const char* url = std::getenv("RIPPLE_REMOTE_CACHE");
    if (url == nullptr || *url == '\0') return std::nullopt;
    auto refuse = [&](const std::string& why) -> std::optional<RemoteCacheSettings> {
        if (warn) warn("ripple remote cache: not using " + std::string(url) + ": " + why);
        return std::nullopt;
    };
    RemoteCacheSettings settings;
    settings.url = url;
    while (!settings.url.empty() && settings.url.back() == '/') settings.url.pop_back();
    if (settings.url.rfind("http://", 0) != 0 && settings.url.rfind("https://", 0) != 0)
        return refuse("RIPPLE_REMOTE_CACHE must be an http:// or https:// URL.");
    const char* key_file = std::getenv("RIPPLE_REMOTE_CACHE_KEY_FILE");
    if (key_file == nullptr || *key_file == '\0')
        return refuse("RIPPLE_REMOTE_CACHE_KEY_FILE is not set, and entries from a shared server are used only when "
                      "signed with the team key (local cache only).");
    std::optional<std::string> key = read_small_file(key_file);
    if (!key) return refuse("the team key file " + std::string(key_file) + " cannot be read (local cache only).");
    settings.key = trimmed(*key);
    if (settings.key.size() < kMinimumKeyBytes)
        return refuse("the team key in " + std::string(key_file) + " is shorter than " +
                      std::to_string(kMinimumKeyBytes) + " characters (local cache only).");
    if (const char* token_file = std::getenv("RIPPLE_REMOTE_CACHE_TOKEN_FILE"); token_file && *token_file) {
        std::optional<std::string> token = read_small_file(token_file);
        if (!token) return refuse("the token file " + std::string(token_file) + " cannot be read (local cache only).");
        settings.bearer_token = trimmed(*token);
    }
    if (const char* ca_file = std::getenv("RIPPLE_REMOTE_CACHE_CA_FILE"); ca_file && *ca_file) {
        if (!read_small_file(ca_file))
            return refuse("the CA file " + std::string(ca_file) + " cannot be read (local cache only).");
        settings.ca_file = ca_file;
    }
    if (const char* timeout = std::getenv("RIPPLE_REMOTE_CACHE_TIMEOUT"); timeout && *timeout) {
        char* end = nullptr;
        double seconds = std::strtod(timeout, &end);
        if (end == timeout || *end != '\0' || !(seconds > 0) || seconds > 3600)
            return refuse("RIPPLE_REMOTE_CACHE_TIMEOUT must be a number of seconds, such as 3.");
        settings.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
    }
    return settings;
}

struct RemoteCache::State {
    RemoteCacheSettings settings;
    WarningHandler warn_handler;
    BlobReader read_blob;

    std::atomic<bool> active{true};
    std::atomic<bool> uploads_allowed{true};
    std::atomic<bool> abort_uploads{false};
    Clock::time_point lookup_deadline{};
    std::unique_ptr<HttpConnection> reader; // the owner's thread

    mutable std::mutex mutex; // guards everything below
    std::condition_variable changed;
    std::deque<UploadJob> queue;
    bool uploading = false; // the upload thread is working on a job taken from the queue
    bool stopping = false;
    std::vector<std::string> pending_warnings; // from the upload thread, delivered on the owner's thread
    std::set<std::string> reported;
    RemoteCacheCounters counters;
    std::thread uploader;

    // One line per `topic` (default: the sentence itself) for the life of the process.
    void warn(const std::string& sentence, const std::string& topic = {}) {
        std::lock_guard<std::mutex> lock(mutex);
        if (reported.insert(topic.empty() ? sentence : topic).second)
            pending_warnings.push_back("ripple remote cache: " + sentence);
    }
    void deliver_warnings() {
        std::vector<std::string> lines;
        {
            std::lock_guard<std::mutex> lock(mutex);
            lines.swap(pending_warnings);
        }
        for (const auto& line : lines) {
            if (warn_handler) warn_handler(line);
        }
    }
    void turn_off(const std::string& why) {
        if (!active.exchange(false)) return;
        warn(settings.url + " " + why + "; using the local cache only for the rest of this run.");
    }
    void count(std::uint64_t RemoteCacheCounters::*counter) {
        std::lock_guard<std::mutex> lock(mutex);
        ++(counters.*counter);
    }

    // A transport failure, a 5xx or a refusal of our credentials: the server is not usable.
    bool failed(const HttpAnswer& answer, const char* doing) {
        if (!answer.failure.empty()) {
            turn_off(std::string("failed while ") + doing + " (" + answer.failure + ")");
            return true;
        }
        if (answer.status >= 500 || answer.status == 401 || answer.status == 403) {
            turn_off(std::string("answered HTTP ") + std::to_string(answer.status) + " while " + doing +
                     (answer.status == 401 || answer.status == 403 ? " (check RIPPLE_REMOTE_CACHE_TOKEN_FILE)" : ""));
            return true;
        }
        return false;
    }

    // GET within what is left of the lookup's budget.
    std::optional<HttpAnswer> get(const std::string& path, const char* doing) {
        if (!active) return std::nullopt;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(lookup_deadline - Clock::now());
        if (left.count() <= 0) {
            turn_off("did not answer within " + std::to_string(settings.timeout.count()) + " ms");
            return std::nullopt;
        }
        if (!reader) reader = std::make_unique<HttpConnection>(settings.bearer_token, settings.ca_file, nullptr);
        HttpAnswer answer = reader->request(HttpConnection::Method::Get, settings.url + path, nullptr, left, left);
        if (failed(answer, doing)) return std::nullopt;
        return answer;
    }

    void upload_loop() {
        HttpConnection writer(settings.bearer_token, settings.ca_file, &abort_uploads);
        const auto stall = std::max(settings.timeout, std::chrono::milliseconds(1000));
        std::set<std::string> on_server;
        for (;;) {
            UploadJob job;
            {
                std::unique_lock<std::mutex> lock(mutex);
                changed.wait(lock, [&] { return stopping || !queue.empty(); });
                if (queue.empty()) return;
                job = std::move(queue.front());
                queue.pop_front();
                uploading = true;
            }
            if (active && uploads_allowed) upload_one(writer, job, stall, on_server);
            {
                std::lock_guard<std::mutex> lock(mutex);
                uploading = false;
            }
            changed.notify_all();
        }
    }

    bool put(HttpConnection& writer, const std::string& path, const std::string& body, std::chrono::milliseconds stall,
             const char* doing) {
        HttpAnswer answer = writer.request(HttpConnection::Method::Put, settings.url + path, &body,
                                           std::chrono::milliseconds(0), stall);
        if (abort_uploads) return false;
        if (failed(answer, doing)) return false;
        if (answer.status < 200 || answer.status >= 300) {
            uploads_allowed = false;
            warn(
                settings.url + " refused an upload (HTTP " + std::to_string(answer.status) + " for PUT " +
                    path.substr(0, 5) +
                    "...); reading from it still, but not adding to it. Does the server allow PUT (nginx: dav_methods PUT)?",
                "refused");
            return false;
        }
        return true;
    }

    void upload_one(HttpConnection& writer, const UploadJob& job, std::chrono::milliseconds stall,
                    std::set<std::string>& on_server) {
        for (const auto& hash : job.blob_hashes) {
            if (on_server.count(hash)) continue;
            HttpAnswer head = writer.request(HttpConnection::Method::Head, settings.url + "/cas/" + hash, nullptr,
                                             std::chrono::milliseconds(0), stall);
            if (abort_uploads || failed(head, "checking for a value")) return;
            if (head.status != 200) {
                std::optional<std::string> bytes = read_blob ? read_blob(hash) : std::nullopt;
                if (!bytes) return; // gone from the local cache meanwhile: the entry is not shared
                if (!put(writer, "/cas/" + hash, *bytes, stall, "uploading a value")) return;
                count(&RemoteCacheCounters::blobs_uploaded);
            }
            on_server.insert(hash);
        }
        if (!put(writer, "/ac/" + job.digest, job.document, stall, "uploading an entry")) return;
        count(&RemoteCacheCounters::documents_uploaded);
    }
};

RemoteCache::RemoteCache(RemoteCacheSettings settings, WarningHandler warn, BlobReader read_blob)
        : state_(std::make_unique<State>()) {
    initialize_curl_once();
    state_->settings = std::move(settings);
    state_->warn_handler = std::move(warn);
    state_->read_blob = std::move(read_blob);
}

RemoteCache::~RemoteCache() {
    State& s = *state_;
    drain(s.settings.drain_timeout);
    {
        std::lock_guard<std::mutex> lock(s.mutex);
        if (!s.queue.empty() || s.uploading) {
            s.pending_warnings.push_back(
                "ripple remote cache: " + std::to_string(s.queue.size() + (s.uploading ? 1 : 0)) +
                " entries were not uploaded to " + s.settings.url + " in time; they stay local.");
        }
        s.queue.clear();
        s.stopping = true;
    }
    s.abort_uploads = true;
    s.changed.notify_all();
    if (s.uploader.joinable()) s.uploader.join();
    s.deliver_warnings();
}

const std::string& RemoteCache::url() const { return state_->settings.url; }
bool RemoteCache::active() const { return state_->active; }

void RemoteCache::begin_lookup() {
    state_->deliver_warnings();
    state_->lookup_deadline = Clock::now() + state_->settings.timeout;
}

std::optional<std::string> RemoteCache::fetch_document(const std::string& digest) {
    State& s = *state_;
    s.deliver_warnings();
    std::optional<HttpAnswer> answer = s.get("/ac/" + digest, "looking up an entry");
    std::optional<std::string> payload;
    if (answer && answer->status == 200) {
        payload = verify(s.settings.key, digest, answer->body);
        if (payload) {
            s.count(&RemoteCacheCounters::documents_fetched);
        } else {
            s.count(&RemoteCacheCounters::rejected);
            // One line however many there are (digests would make each its own): a server with a foreign or
            // planted cache would otherwise warn once per cell.
            s.warn(
                "an entry on " + s.settings.url +
                    " is not signed with the team key (unsigned, wrongly signed or damaged), so it was ignored and never "
                    "loaded; such cells are recomputed (first: " +
                    digest.substr(0, 12) + ").",
                "unsigned");
        }
    }
    s.deliver_warnings();
    return payload;
}

std::optional<std::string> RemoteCache::fetch_blob(const std::string& hash) {
    State& s = *state_;
    std::optional<HttpAnswer> answer = s.get("/cas/" + hash, "fetching a value");
    std::optional<std::string> bytes;
    if (answer && answer->status == 200) {
        if (sha256_hex(answer->body) == hash) {
            s.count(&RemoteCacheCounters::blobs_fetched);
            bytes = std::move(answer->body);
        } else {
            s.count(&RemoteCacheCounters::rejected);
            s.warn("a value on " + s.settings.url +
                       " does not match its hash (tampered or truncated), so it was ignored; such cells are recomputed "
                       "(first: " +
                       hash.substr(0, 12) + ").",
                   "bad value");
        }
    }
    s.deliver_warnings();
    return bytes;
}

void RemoteCache::upload(const std::string& digest, const std::string& payload, std::vector<std::string> blob_hashes) {
    State& s = *state_;
    s.deliver_warnings();
    if (!s.active || !s.uploads_allowed) return;
    {
        std::lock_guard<std::mutex> lock(s.mutex);
        s.queue.push_back(UploadJob{digest, sign(s.settings.key, digest, payload), std::move(blob_hashes)});
        if (!s.uploader.joinable()) s.uploader = std::thread([&s] { s.upload_loop(); });
    }
    s.changed.notify_all();
}

void RemoteCache::drain(std::chrono::milliseconds limit) {
    State& s = *state_;
    {
        std::unique_lock<std::mutex> lock(s.mutex);
        s.changed.wait_for(lock, limit, [&] { return s.queue.empty() && !s.uploading; });
    }
    s.deliver_warnings();
}

RemoteCacheCounters RemoteCache::counters() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->counters;
}

std::string RemoteCache::sign(const std::string& key, const std::string& digest, const std::string& payload) {
    return kSignatureTag + hmac_sha256_hex(key, digest + "\n" + payload) + "\n" + payload;
}

std::optional<std::string> RemoteCache::verify(const std::string& key, const std::string& digest,
                                               const std::string& document) {
    const std::string tag = kSignatureTag;
    const std::size_t mac_size = 64;
    if (document.size() < tag.size() + mac_size + 1 || document.compare(0, tag.size(), tag) != 0 ||
        document[tag.size() + mac_size] != '\n') {
        return std::nullopt;
    }
    std::string payload = document.substr(tag.size() + mac_size + 1);
    const std::string expected = hmac_sha256_hex(key, digest + "\n" + payload);
    if (CRYPTO_memcmp(expected.data(), document.data() + tag.size(), mac_size) != 0) return std::nullopt;
    return payload;
}

} // namespace ripple::dag
