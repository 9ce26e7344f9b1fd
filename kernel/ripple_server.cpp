// ripple_server.cpp: sockets, signature checks, the IO and heartbeat threads, and the main-thread
// dispatch loop. Must not know about R or the engine.
#include "ripple_server.hpp"

#include <csignal>
#include <iostream>

#include <pthread.h>

#include <xeus/xguid.hpp>
#include <xeus/xmiddleware.hpp>
#include <xeus/xzmq_serializer.hpp>
#include <zmq_addon.hpp>

namespace ripple::kernel {

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);
const std::string kOutboxEndpoint = "inproc://ripple-outbox";

void log_line(const std::string& text) { std::cerr << "ripple-kernel: " << text << std::endl; }

// cppzmq throws on EINTR; a signal must never cost us a message.
template <class F>
auto retry_on_eintr(F&& f) {
    for (;;) {
        try {
            return f();
        } catch (const zmq::error_t& e) {
            if (e.num() != EINTR) throw;
        }
    }
}

} // namespace

class RippleServer::Messenger final : public xeus::xcontrol_messenger {
public:
    explicit Messenger(RippleServer& server) : server_(server) {}

private:
    nl::json send_to_shell_impl(const nl::json& message) override { return server_.notify_internal_listener(message); }
    RippleServer& server_;
};

RippleServer::RippleServer(zmq::context_t& context, const xeus::xconfiguration& config, nl::json::error_handler_t eh)
        : context_(context), auth_(xeus::make_xauthentication(config.m_signature_scheme, config.m_key)),
          reply_auth_(xeus::make_xauthentication(config.m_signature_scheme, config.m_key)),
          verifier_(config.m_signature_scheme, config.m_key), session_id_(xeus::new_xguid()), error_handler_(eh),
          shell_(context, zmq::socket_type::router), control_(context, zmq::socket_type::router),
          stdin_(context, zmq::socket_type::router), iopub_(context, zmq::socket_type::pub),
          heartbeat_(context, zmq::socket_type::rep), outbox_pull_(context, zmq::socket_type::pull),
          outbox_push_(context, zmq::socket_type::push), messenger_(std::make_unique<Messenger>(*this)) {
    for (zmq::socket_t* socket : {&shell_, &control_, &stdin_, &iopub_, &heartbeat_, &outbox_pull_, &outbox_push_}) {
        socket->set(zmq::sockopt::linger, 1000);
    }
    // A peer that sends a frame over the limit is disconnected by ZeroMQ before the frame is held in memory.
    for (zmq::socket_t* socket : {&shell_, &control_, &stdin_}) {
        socket->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(WireVerifier::kMaxMessageBytes));
    }
    heartbeat_.set(zmq::sockopt::maxmsgsize, int64_t{1} << 20);
    xeus::init_socket(shell_, config.m_transport, config.m_ip, config.m_shell_port);
    xeus::init_socket(control_, config.m_transport, config.m_ip, config.m_control_port);
    xeus::init_socket(stdin_, config.m_transport, config.m_ip, config.m_stdin_port);
    xeus::init_socket(iopub_, config.m_transport, config.m_ip, config.m_iopub_port);
    xeus::init_socket(heartbeat_, config.m_transport, config.m_ip, config.m_hb_port);
    shell_port_ = xeus::get_socket_port(shell_);
    control_port_ = xeus::get_socket_port(control_);
    stdin_port_ = xeus::get_socket_port(stdin_);
    iopub_port_ = xeus::get_socket_port(iopub_);
    heartbeat_port_ = xeus::get_socket_port(heartbeat_);
    outbox_pull_.bind(kOutboxEndpoint);
    outbox_push_.connect(kOutboxEndpoint);
}

RippleServer::~RippleServer() {
    io_stop_ = true;
    if (io_thread_.joinable()) io_thread_.join();
    if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
}

std::unique_ptr<xeus::xserver> RippleServer::build(xeus::xcontext& context, const xeus::xconfiguration& config,
                                                   nl::json::error_handler_t eh) {
    return std::make_unique<RippleServer>(context.get_wrapped_context<zmq::context_t>(), config, eh);
}

xeus::xcontrol_messenger& RippleServer::get_control_messenger_impl() { return *messenger_; }

void RippleServer::post(Route route, zmq::multipart_t frames) {
    char tag = static_cast<char>(route);
    frames.pushmem(&tag, 1);
    retry_on_eintr([&] { return frames.send(outbox_push_); });
}

void RippleServer::send_shell_impl(xeus::xmessage message) {
    post(Route::Shell, xeus::xzmq_serializer::serialize(std::move(message), *auth_, error_handler_));
}

void RippleServer::send_control_impl(xeus::xmessage message) {
    post(Route::Control, xeus::xzmq_serializer::serialize(std::move(message), *auth_, error_handler_));
}

// Published from R's thread directly (not through the io thread): four of a cell's five messages are on IOPub, and each
// hop through the outbox woke the io thread (a context switch on a 2-core pod). The socket is shared with the io
// thread's answers to malformed requests under iopub_mutex_; nothing reads from it.
void RippleServer::publish_impl(xeus::xpub_message message, xeus::channel) {
    zmq::multipart_t frames = xeus::xzmq_serializer::serialize_iopub(std::move(message), *auth_, error_handler_);
    std::lock_guard<std::mutex> lock(iopub_mutex_);
    retry_on_eintr([&] { return frames.send(iopub_); });
}

void RippleServer::send_stdin_impl(xeus::xmessage message) {
    {
        // A reply that arrived while no input was asked for must not answer this request.
        std::lock_guard<std::mutex> lock(inbox_mutex_);
        stdin_inbox_.clear();
    }
    post(Route::Stdin, xeus::xzmq_serializer::serialize(std::move(message), *auth_, error_handler_));
    std::optional<xeus::xmessage> reply;
    {
        std::unique_lock<std::mutex> lock(inbox_mutex_);
        for (;;) {
            if (!stdin_inbox_.empty()) {
                reply.emplace(std::move(stdin_inbox_.front()));
                stdin_inbox_.pop_front();
                break;
            }
            if (stop_requested_ || (input_cancelled_ && input_cancelled_())) break;
            inbox_ready_.wait_for(lock, std::chrono::milliseconds(50));
        }
    }
    if (reply) notify_stdin_listener(std::move(*reply));
}

void RippleServer::start_impl(xeus::xpub_message message) {
    io_thread_ = std::thread([this] { io_loop(); });
    heartbeat_thread_ = std::thread([this] { heartbeat_loop(); });
    // Every other thread (ours and ZeroMQ's) was created with SIGINT blocked by main(); from here
    // on the signal can only land on this thread, the one that runs R.
    sigset_t sigint;
    sigemptyset(&sigint);
    sigaddset(&sigint, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &sigint, nullptr);

    publish(std::move(message), xeus::channel::SHELL);
    while (!stop_requested_) {
        std::optional<xeus::xmessage> request;
        bool is_control = false;
        {
            std::unique_lock<std::mutex> lock(inbox_mutex_);
            inbox_ready_.wait_for(lock, kPollInterval, [this] {
                return stop_requested_ || !control_inbox_.empty() || !shell_inbox_.empty();
            });
            if (!control_inbox_.empty()) {
                request.emplace(std::move(control_inbox_.front()));
                control_inbox_.pop_front();
                is_control = true;
            } else if (!shell_inbox_.empty()) {
                request.emplace(std::move(shell_inbox_.front()));
                shell_inbox_.pop_front();
            }
        }
        if (!request) {
            try {
                if (idle_handler_ && !stop_requested_) idle_handler_();
            } catch (const std::exception& e) {
                log_line(std::string("idle work failed: ") + e.what());
            }
            continue;
        }
        try {
            if (is_control) {
                notify_control_listener(std::move(*request));
            } else {
                if (shell_observer_) shell_observer_(*request);
                notify_shell_listener(std::move(*request));
            }
        } catch (const std::exception& e) {
            log_line(std::string("a request failed and was skipped: ") + e.what());
        }
    }
    io_stop_ = true; // the IO thread sends what is still queued (e.g. shutdown_reply), then ends
    if (io_thread_.joinable()) io_thread_.join();
    if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
}

void RippleServer::abort_queue_impl(const listener& l, long polling_interval) {
    for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(polling_interval));
        std::deque<xeus::xmessage> pending;
        {
            std::lock_guard<std::mutex> lock(inbox_mutex_);
            pending.swap(shell_inbox_);
        }
        if (pending.empty()) return;
        for (auto& message : pending) l(std::move(message));
    }
}

void RippleServer::stop_impl() {
    stop_requested_ = true;
    inbox_ready_.notify_all();
}

void RippleServer::update_config_impl(xeus::xconfiguration& config) const {
    config.m_shell_port = shell_port_;
    config.m_control_port = control_port_;
    config.m_stdin_port = stdin_port_;
    config.m_iopub_port = iopub_port_;
    config.m_hb_port = heartbeat_port_;
}

void RippleServer::receive(zmq::socket_t& socket, std::deque<xeus::xmessage>& queue, InboundSocket which,
                           const char* name) {
    zmq::multipart_t wire;
    if (!wire.recv(socket, ZMQ_DONTWAIT)) return;
    Verdict verdict = verifier_.verify(wire, which);
    if (!verdict.accepted()) {
        ++dropped_;
        rejections_.note(name, *verdict.rejection);
        // Signed, but its content is malformed: where the protocol owes a reply, the sender gets an error reply.
        if (verdict.rejection->kind == RejectKind::BadContent) {
            answer_malformed(socket, *verdict.message, verdict.rejection->detail);
        }
        return;
    }
    xeus::xmessage message = std::move(*verdict.message);
    bool interrupt =
        which == InboundSocket::Control && message.header()["msg_type"].get<std::string>() == "interrupt_request";
    if (interrupt && interrupt_handler_) interrupt_handler_();
    {
        std::lock_guard<std::mutex> lock(inbox_mutex_);
        queue.push_back(std::move(message));
    }
    inbox_ready_.notify_all();
}

void RippleServer::answer_malformed(zmq::socket_t& socket, const xeus::xmessage& request, const std::string& problem) {
    auto reply_type = reply_type_for(request.header()["msg_type"].get<std::string>());
    if (!reply_type) return;
    auto header_for = [this](const std::string& msg_type) {
        return nl::json{{"msg_id", xeus::new_xguid()}, {"username", "ripple"}, {"session", session_id_},
                        {"date", xeus::iso8601_now()}, {"msg_type", msg_type}, {"version", "5.3"}};
    };
    auto status = [&](const char* state) {
        xeus::xpub_message pub("kernel_core.ripple.status", header_for("status"), request.header(), nl::json::object(),
                               nl::json{{"execution_state", state}}, xeus::buffer_sequence());
        zmq::multipart_t frames = xeus::xzmq_serializer::serialize_iopub(std::move(pub), *reply_auth_, error_handler_);
        std::lock_guard<std::mutex> lock(iopub_mutex_);
        frames.send(iopub_);
    };
    nl::json content = {{"status", "error"},
                        {"ename", "BadRequest"},
                        {"evalue", "malformed request: " + problem},
                        {"traceback", nl::json::array()}};
    xeus::xmessage reply(request.identities(), header_for(*reply_type), request.header(), nl::json::object(),
                         std::move(content), xeus::buffer_sequence());
    status("busy");
    xeus::xzmq_serializer::serialize(std::move(reply), *reply_auth_, error_handler_).send(socket);
    status("idle");
}

void RippleServer::io_loop() {
    auto forward = [this](zmq::multipart_t& frames) {
        zmq::message_t tag = frames.pop();
        switch (static_cast<Route>(tag.size() == 1 ? *static_cast<const char*>(tag.data()) : 0)) {
        case Route::Shell: frames.send(shell_); break;
        case Route::Control: frames.send(control_); break;
        case Route::Stdin: frames.send(stdin_); break;
        case Route::IOPub: frames.send(iopub_); break;
        default: log_line("internal: an outgoing message had no route"); break;
        }
    };
    while (!io_stop_) {
        zmq::pollitem_t items[] = {{control_.handle(), 0, ZMQ_POLLIN, 0},
                                   {shell_.handle(), 0, ZMQ_POLLIN, 0},
                                   {stdin_.handle(), 0, ZMQ_POLLIN, 0},
                                   {outbox_pull_.handle(), 0, ZMQ_POLLIN, 0}};
        try {
            zmq::poll(items, 4, kPollInterval);
            if (items[0].revents & ZMQ_POLLIN) receive(control_, control_inbox_, InboundSocket::Control, "control");
            if (items[1].revents & ZMQ_POLLIN) receive(shell_, shell_inbox_, InboundSocket::Shell, "shell");
            if (items[2].revents & ZMQ_POLLIN) receive(stdin_, stdin_inbox_, InboundSocket::Stdin, "stdin");
            rejections_.flush_if_due();
            if (items[3].revents & ZMQ_POLLIN) {
                zmq::multipart_t frames;
                while (frames.recv(outbox_pull_, ZMQ_DONTWAIT)) {
                    forward(frames);
                    frames.clear();
                }
            }
        } catch (const zmq::error_t& e) {
            if (e.num() == ETERM) return;
            if (e.num() != EINTR) log_line(std::string("socket error: ") + e.what());
        }
    }
    // Drain what R's thread queued before it stopped (the shutdown_reply among it).
    try {
        zmq::multipart_t frames;
        while (frames.recv(outbox_pull_, ZMQ_DONTWAIT)) {
            forward(frames);
            frames.clear();
        }
    } catch (const zmq::error_t&) {}
}

void RippleServer::heartbeat_loop() {
    while (!io_stop_) {
        zmq::pollitem_t item{heartbeat_.handle(), 0, ZMQ_POLLIN, 0};
        try {
            zmq::poll(&item, 1, kPollInterval);
            if (item.revents & ZMQ_POLLIN) {
                // Echo the whole message, every frame: a REP socket answers only after all of them were read.
                zmq::multipart_t ping;
                if (ping.recv(heartbeat_, ZMQ_DONTWAIT)) ping.send(heartbeat_);
            }
        } catch (const zmq::error_t& e) {
            if (e.num() == ETERM) return;
        }
    }
}

} // namespace ripple::kernel
