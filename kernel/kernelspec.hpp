// kernelspec.hpp: installs the Jupyter kernelspec (kernel.json + logos) for ripple-kernel.
// Must not know about R, sockets or the engine.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ripple::kernel {

// Locations ripple-kernel finds its files in, relative to its own executable or the build tree.
std::filesystem::path executable_path();
std::filesystem::path find_share_dir();
std::filesystem::path find_r_library();

// `ripple-kernel install [--user|--prefix DIR|--sys-prefix]`; returns a process exit code.
int install_kernelspec(const std::vector<std::string>& args);

} // namespace ripple::kernel
