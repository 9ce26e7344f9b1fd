// main.cpp: ripple-kernel's entry point: `-f CONNECTION_FILE` runs the kernel, `install` writes the spec.
// Wires the R session, the interpreter, the history and the server together; holds no logic of its own.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <pthread.h>

#include <xeus/xkernel.hpp>
#include <xeus/xkernel_configuration.hpp>
#include <zmq.hpp>

#include "dag/private_files.hpp"
#include "kernel/history_store.hpp"
#include "kernel/kernelspec.hpp"
#include "kernel/r_interpreter.hpp"
#include "kernel/ripple_server.hpp"
#include "rbridge/r_session.hpp"

namespace {

int usage() {
    std::cerr << "usage: ripple-kernel -f CONNECTION_FILE\n"
                 "       ripple-kernel install [--user | --prefix DIR | --sys-prefix]\n"
                 "       ripple-kernel --version\n";
    return 2;
}

std::filesystem::path history_path() {
    if (const char* file = std::getenv("RIPPLE_HISTORY_FILE"); file != nullptr && *file != '\0') return file;
    std::filesystem::path base;
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') base = xdg;
    else base = std::filesystem::path(std::getenv("HOME") ? std::getenv("HOME") : "/tmp") / ".local" / "share";
    ripple::dag::create_private_directories(base / "ripple", ripple::dag::modes_for(base / "ripple"));
    return base / "ripple" / "history.sqlite";
}

} // namespace

int main(int argc, char* argv[]) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) return usage();
    if (args[0] == "install") return ripple::kernel::install_kernelspec({args.begin() + 1, args.end()});
    if (args[0] == "--version") {
        std::cout << "ripple-kernel " RIPPLE_VERSION "\n";
        return 0;
    }
    std::string connection_file;
    for (size_t i = 0; i < args.size(); ++i) {
        if ((args[i] == "-f" || args[i] == "--connection-file") && i + 1 < args.size()) connection_file = args[++i];
    }
    if (connection_file.empty()) return usage();
    if (!std::filesystem::exists(connection_file)) {
        std::cerr << "ripple-kernel: connection file " << connection_file << " does not exist\n";
        return 2;
    }

    // SIGINT must reach only the thread that runs R: block it now, before any thread exists; the
    // server unblocks it on this thread once its own threads are running.
    sigset_t sigint;
    sigemptyset(&sigint);
    sigaddset(&sigint, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigint, nullptr);

    xeus::xconfiguration config;
    try {
        config = xeus::load_configuration(connection_file);
    } catch (const std::exception& e) {
        std::cerr << "ripple-kernel: cannot read connection file " << connection_file << ": " << e.what() << "\n";
        return 2;
    }

    try {
        ripple::rbridge::RSession::start({ripple::kernel::find_r_library().string(), true});
    } catch (const std::exception& e) {
        std::cerr << "ripple-kernel: R could not start: " << e.what() << "\n";
        return 4;
    }
    ripple::rbridge::RSession::install_sigint_handler();

    auto interpreter = std::make_unique<ripple::kernel::RInterpreter>();
    ripple::kernel::RInterpreter* interpreter_ptr = interpreter.get();
    auto history = std::make_unique<ripple::kernel::HistoryStore>(history_path());
    ripple::kernel::HistoryStore* history_ptr = history.get();
    interpreter_ptr->set_history_recorder(
        [history_ptr](int line, const std::string& code, const std::string& result_text) {
            history_ptr->record_input(line, code, result_text);
        });

    auto context = xeus::make_context<zmq::context_t>();
    xeus::xkernel kernel(config, xeus::get_user_name(), std::move(context), std::move(interpreter),
                         &ripple::kernel::RippleServer::build, std::move(history), nullptr, xeus::make_null_debugger,
                         nl::json::object(), nl::json::error_handler_t::replace);
    auto& server = dynamic_cast<ripple::kernel::RippleServer&>(kernel.get_server());
    server.set_shell_observer([interpreter_ptr](const xeus::xmessage& m) { interpreter_ptr->observe_request(m); });
    server.set_interrupt_handler(&ripple::rbridge::RSession::request_interrupt);
    server.set_input_cancelled(&ripple::rbridge::RSession::interrupt_requested);
    server.set_idle_handler([interpreter_ptr] { interpreter_ptr->on_idle(); });
    kernel.start();
    return 0;
}
