// kernelspec.cpp: kernel.json writing and file lookup for the installed or build-tree kernel.
// Must not know about R, sockets or the engine.
#include "kernelspec.hpp"

#include <cstdlib>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace ripple::kernel {

fs::path executable_path() {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : self;
}

fs::path find_share_dir() {
    fs::path installed = executable_path().parent_path().parent_path() / "share" / "ripple";
    if (fs::exists(installed / "kernelspec")) return installed;
    return fs::path(RIPPLE_SOURCE_SHARE_DIR);
}

fs::path find_r_library() {
    if (const char* env = std::getenv("RIPPLE_R_LIBRARY"); env != nullptr && *env != '\0') return env;
    fs::path installed = executable_path().parent_path().parent_path() / "lib" / "ripple" / "R-library";
    if (fs::exists(installed / "ripple")) return installed;
    return fs::path(RIPPLE_BUILD_R_LIBRARY);
}

namespace {

fs::path user_data_dir() {
    if (const char* dir = std::getenv("JUPYTER_DATA_DIR"); dir != nullptr && *dir != '\0') return dir;
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0')
        return fs::path(xdg) / "jupyter";
    const char* home = std::getenv("HOME");
    return fs::path(home != nullptr ? home : "/tmp") / ".local" / "share" / "jupyter";
}

int usage(const std::string& problem) {
    std::cerr << "ripple-kernel install: " << problem << "\n"
              << "usage: ripple-kernel install [--user | --prefix DIR | --sys-prefix]\n";
    return 2;
}

} // namespace

int install_kernelspec(const std::vector<std::string>& args) {
    fs::path data_dir = user_data_dir();
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--user") {
            data_dir = user_data_dir();
        } else if (args[i] == "--prefix") {
            if (i + 1 >= args.size()) return usage("--prefix needs a directory");
            data_dir = fs::absolute(args[++i]) / "share" / "jupyter";
        } else if (args[i] == "--sys-prefix") {
            data_dir = fs::path("/usr/local/share/jupyter");
        } else {
            return usage("unknown option '" + args[i] + "'");
        }
    }
    fs::path exe = executable_path();
    if (exe.empty()) return usage("cannot find this executable's path");
    fs::path target = data_dir / "kernels" / "ripple";
    std::error_code ec;
    fs::create_directories(target, ec);
    if (ec) {
        std::cerr << "ripple-kernel install: cannot create " << target << ": " << ec.message() << "\n";
        return 1;
    }
    nlohmann::json spec = {
        {"argv", {exe.string(), "-f", "{connection_file}"}},
        {"display_name", "R (ripple)"},
        {"language", "R"},
        {"interrupt_mode", "signal"},
        {"metadata", {{"debugger", false}}},
    };
    {
        std::ofstream out(target / "kernel.json");
        out << spec.dump(2) << "\n";
        if (!out) {
            std::cerr << "ripple-kernel install: cannot write " << (target / "kernel.json") << "\n";
            return 1;
        }
    }
    fs::path logos = find_share_dir() / "kernelspec";
    for (const char* logo : {"logo-32x32.png", "logo-64x64.png", "logo-svg.svg"}) {
        if (fs::exists(logos / logo))
            fs::copy_file(logos / logo, target / logo, fs::copy_options::overwrite_existing, ec);
    }
    std::cout << "Installed kernelspec ripple in " << target.string() << "\n";
    return 0;
}

} // namespace ripple::kernel
