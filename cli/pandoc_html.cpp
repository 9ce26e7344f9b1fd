// pandoc_html.cpp: runs pandoc (posix_spawnp, stderr to a temp file) and turns its failure into one sentence.
// Must not know about R, knitr or the engine.
#include "cli/pandoc_html.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dag/sha256.hpp"

extern char** environ;

namespace ripple::cli {

namespace fs = std::filesystem;

void pandoc_to_html(const fs::path& markdown_file, const fs::path& html_file, const fs::path& resource_dir,
                    bool self_contained, const std::string& page_title, const fs::path& head_file) {
    std::vector<std::string> args = {"pandoc",
                                     "--from",
                                     "markdown",
                                     "--to",
                                     "html5",
                                     "--standalone",
                                     "--resource-path=" + resource_dir.string(),
                                     "--output",
                                     html_file.string(),
                                     markdown_file.string()};
    if (!page_title.empty()) args.insert(args.end() - 1, {"--metadata", "pagetitle=" + page_title});
    if (self_contained) args.insert(args.begin() + 6, "--self-contained");
    if (!head_file.empty()) args.insert(args.begin() + 6, "--include-in-header=" + head_file.string());
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    fs::path errors =
        html_file.parent_path() / ("." + html_file.filename().string() + ".pandoc-stderr-" + std::to_string(getpid()));
    int error_fd = ::open(errors.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (error_fd < 0) throw PandocError("cannot run pandoc: " + std::string(std::strerror(errno)) + ".");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, error_fd, 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addchdir_np(&actions, resource_dir.c_str());
    pid_t pid = 0;
    int spawned = posix_spawnp(&pid, "pandoc", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(error_fd);
    int status = 0;
    if (spawned == 0) {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    }
    std::ifstream in(errors);
    std::stringstream captured;
    captured << in.rdbuf();
    std::error_code ignored;
    fs::remove(errors, ignored);
    if (spawned != 0) {
        throw PandocError("pandoc could not be started (" + std::string(std::strerror(spawned)) +
                          "); install Debian's pandoc to render HTML, or use --to md.");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string first_line;
        std::getline(captured, first_line);
        throw PandocError("pandoc failed to make " + html_file.filename().string() +
                          (first_line.empty() ? std::string(".") : ": " + first_line));
    }
}

namespace {

std::string stamp(const fs::path& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) return "missing";
    return std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino) + ":" + std::to_string(info.st_size) + ":" +
           std::to_string(static_cast<long long>(info.st_mtim.tv_sec)) + "." + std::to_string(info.st_mtim.tv_nsec);
}

std::optional<fs::path> program_on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    size_t start = 0;
    while (start <= dirs.size()) {
        size_t end = dirs.find(':', start);
        std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
        fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return std::nullopt;
}

} // namespace

std::optional<std::string> pandoc_run_key(const std::string& markdown, const fs::path& resource_dir,
                                          bool self_contained, const std::string& page_title,
                                          const std::vector<fs::path>& figures) {
    std::optional<fs::path> pandoc = program_on_path("pandoc");
    if (!pandoc) return std::nullopt;
    std::error_code ignored;
    dag::Sha256 digest;
    digest.update_framed("ripple-pandoc-html 1");
    fs::path program = fs::canonical(*pandoc, ignored);
    digest.update_framed(program.string());
    digest.update_framed(stamp(program));
    // Templates and filters in pandoc's user data folder change its output.
    const char* home = std::getenv("HOME");
    const char* data_home = std::getenv("XDG_DATA_HOME");
    for (const fs::path& folder :
         {fs::path(data_home ? data_home : "") / "pandoc", fs::path(home ? home : "") / ".local" / "share" / "pandoc",
          fs::path(home ? home : "") / ".pandoc"}) {
        digest.update_framed(stamp(folder));
    }
    digest.update_framed(fs::absolute(resource_dir, ignored).string());
    digest.update_framed(self_contained ? "self-contained" : "linked");
    digest.update_framed(page_title);
    digest.update_framed(markdown);
    for (const auto& figure : figures) {
        digest.update_framed(figure.string());
        digest.update_framed(dag::sha256_file(figure).value_or("missing"));
    }
    return digest.hex_digest();
}

} // namespace ripple::cli
