// main.cpp: run-notebook's entry point: parses the command line, picks the notebook runner or the R Markdown
// renderer, and maps every failure to its exit code. Holds no logic of its own.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

#include "cli/cache_commands.hpp"
#include "cli/cell_output.hpp"
#include "cli/command_line.hpp"
#include "cli/engine_session.hpp"
#include "cli/notebook_runner.hpp"
#include "cli/progress.hpp"
#include "cli/rmd_renderer.hpp"
#include "cli/run_support.hpp"

#ifndef RIPPLE_VERSION
#define RIPPLE_VERSION "0.0.0"
#endif

namespace {

using ripple::cli::ExitCode;

int code(ExitCode exit) { return static_cast<int>(exit); }

// A crash inside R (or anywhere) ends the run with exit code 4 and a last line, never a core-dump exit status.
void on_crash(int signal) {
    const char* text = "run-notebook: internal error: the process crashed (";
    (void)!write(2, text, std::strlen(text));
    const char* name = strsignal(signal);
    (void)!write(2, name, std::strlen(name));
    const char* tail = "); nothing was written.\n";
    (void)!write(2, tail, std::strlen(tail));
    _exit(code(ExitCode::Internal));
}

void install_crash_handlers() {
    struct sigaction action {};
    action.sa_handler = &on_crash;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    for (int signal : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) sigaction(signal, &action, nullptr);
}

} // namespace

int main(int argc, char* argv[]) {
    std::vector<std::string> args(argv + 1, argv + argc);
    ripple::cli::Command command;
    try {
        command = ripple::cli::parse_command_line(args);
    } catch (const ripple::cli::UsageError& e) {
        std::cerr << "run-notebook: " << e.what() << "\n(run-notebook --help shows the usage)\n";
        return code(ExitCode::BadInput);
    }
    if (std::holds_alternative<ripple::cli::HelpRequest>(command)) {
        std::cout << ripple::cli::usage_text();
        return 0;
    }
    if (std::holds_alternative<ripple::cli::VersionRequest>(command)) {
        std::cout << "run-notebook " RIPPLE_VERSION "\n";
        return 0;
    }
    if (const auto* cache = std::get_if<ripple::cli::CacheRequest>(&command)) {
        return ripple::cli::run_cache_command(*cache, std::cout, std::cerr);
    }
    if (const auto* why = std::get_if<ripple::cli::WhyRequest>(&command)) {
        install_crash_handlers();
        ripple::cli::Progress progress(stderr, true, false); // errors and cache warnings only
        try {
            if (why->kind == ripple::cli::InputKind::Notebook)
                return ripple::cli::explain_notebook(*why, progress, std::cout);
            return ripple::cli::explain_rmd(*why, progress, std::cout);
        } catch (const ripple::cli::InputError& e) {
            progress.error(std::string("run-notebook: ") + e.what());
            return code(ExitCode::BadInput);
        } catch (const std::exception& e) {
            progress.error(std::string("run-notebook: internal error: ") + e.what());
            return code(ExitCode::Internal);
        }
    }

    const auto& request = std::get<ripple::cli::RunRequest>(command);
    install_crash_handlers();
    ripple::cli::Progress progress(stderr, request.quiet, isatty(2) == 1);
    try {
        if (request.kind == ripple::cli::InputKind::Notebook) return ripple::cli::run_notebook(request, progress);
        return ripple::cli::render_rmd(request, progress);
    } catch (const ripple::cli::InputError& e) {
        progress.error(std::string("run-notebook: ") + e.what());
        return code(ExitCode::BadInput);
    } catch (const ripple::cli::RStartError& e) {
        progress.error(std::string("run-notebook: R could not start: ") + e.what());
        return code(ExitCode::Internal);
    } catch (const std::exception& e) {
        progress.error(std::string("run-notebook: internal error: ") + e.what());
        return code(ExitCode::Internal);
    }
}
