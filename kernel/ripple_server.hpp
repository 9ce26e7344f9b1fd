// ripple_server.hpp: the Jupyter wire server (ZeroMQ sockets, HMAC, threads) under xeus 2.4.1's kernel core.
// Must not know about R or the engine: it moves signed messages between sockets and R's thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <xeus/xauthentication.hpp>
#include <xeus/xcontrol_messenger.hpp>
#include <xeus/xeus_context.hpp>
#include <xeus/xkernel_configuration.hpp>
#include <xeus/xserver.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "kernel/wire_verifier.hpp"

namespace ripple::kernel {

// Why not xeus's xserver_zmq: it polls shell and control on the main thread, so while R runs a
// cell an interrupt_request is never read; it gives the interpreter no request metadata; and its
// threads die on EINTR. Here one IO thread owns every socket, R's thread (main) dispatches from
// queues, control messages overtake shell ones, and interrupt_request acts the moment it arrives.
class RippleServer final : public xeus::xserver {
public:
    RippleServer(zmq::context_t& context, const xeus::xconfiguration& config, nl::json::error_handler_t eh);
    ~RippleServer() override;

    static std::unique_ptr<xeus::xserver> build(xeus::xcontext& context, const xeus::xconfiguration& config,
                                                nl::json::error_handler_t eh);

    // Called on the main thread just before a shell request is handed to the kernel core: this is
    // where the request's metadata (JupyterLab's cellId, deletedCells) is captured.
    void set_shell_observer(std::function<void(const xeus::xmessage&)> observer) {
        shell_observer_ = std::move(observer);
    }
    // Called on the IO thread as soon as an interrupt_request arrives on control.
    void set_interrupt_handler(std::function<void()> handler) { interrupt_handler_ = std::move(handler); }
    // Polled while waiting for an input_reply: true abandons the wait (e.g. the user interrupted).
    void set_input_cancelled(std::function<bool()> predicate) { input_cancelled_ = std::move(predicate); }
    // Called on the main thread whenever no request has come for a poll interval (100 ms), between requests:
    // deferred bookkeeping goes here, off every request's path.
    void set_idle_handler(std::function<void()> handler) { idle_handler_ = std::move(handler); }

    std::size_t dropped_messages() const { return dropped_.load(); }

private:
    class Messenger;

    xeus::xcontrol_messenger& get_control_messenger_impl() override;
    void send_shell_impl(xeus::xmessage message) override;
    void send_control_impl(xeus::xmessage message) override;
    void send_stdin_impl(xeus::xmessage message) override;
    void publish_impl(xeus::xpub_message message, xeus::channel c) override;
    void start_impl(xeus::xpub_message message) override;
    void abort_queue_impl(const listener& l, long polling_interval) override;
    void stop_impl() override;
    void update_config_impl(xeus::xconfiguration& config) const override;

    enum class Route : char { Shell = 'S', Control = 'C', Stdin = 'I', IOPub = 'P' };
    void post(Route route, zmq::multipart_t frames);
    void io_loop();
    void heartbeat_loop();
    void receive(zmq::socket_t& socket, std::deque<xeus::xmessage>& queue, InboundSocket which, const char* name);
    void answer_malformed(zmq::socket_t& socket, const xeus::xmessage& request, const std::string& problem);

    zmq::context_t& context_;
    std::unique_ptr<xeus::xauthentication> auth_;       // signs what R's thread sends
    std::unique_ptr<xeus::xauthentication> reply_auth_; // signs the IO thread's error replies (never shared)
    WireVerifier verifier_;                             // IO thread only
    RejectionLog rejections_;                           // IO thread only
    std::string session_id_;                            // header.session of the IO thread's error replies
    nl::json::error_handler_t error_handler_;
    zmq::socket_t shell_, control_, stdin_, iopub_, heartbeat_;
    zmq::socket_t outbox_pull_, outbox_push_;
    std::string shell_port_, control_port_, stdin_port_, iopub_port_, heartbeat_port_;

    std::mutex inbox_mutex_;
    std::mutex iopub_mutex_; // iopub_ is written by R's thread (publish) and the io thread (malformed requests)
    std::condition_variable inbox_ready_;
    std::deque<xeus::xmessage> shell_inbox_, control_inbox_, stdin_inbox_;

    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> io_stop_{false};
    std::atomic<std::size_t> dropped_{0};
    std::thread io_thread_, heartbeat_thread_;
    std::unique_ptr<Messenger> messenger_;

    std::function<void(const xeus::xmessage&)> shell_observer_;
    std::function<void()> interrupt_handler_;
    std::function<bool()> input_cancelled_;
    std::function<void()> idle_handler_;
};

} // namespace ripple::kernel
