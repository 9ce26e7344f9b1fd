// pandoc_html.cpp: runs pandoc (posix_spawnp, stderr to a temp file) and turns its failure into one sentence.
// Must not know about R, knitr or the engine.
#include "cli/pandoc_html.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace ripple::cli {

namespace fs = std::filesystem;

void pandoc_to_html(const fs::path& markdown_file, const fs::path& html_file, const fs::path& resource_dir,
                    bool self_contained, const std::string& page_title) {
    std::vector<std::string> args = {"pandoc", "--from", "markdown", "--to", "html5", "--standalone",
                                     "--resource-path=" + resource_dir.string(), "--output", html_file.string(),
                                     markdown_file.string()};
    if (!page_title.empty()) args.insert(args.end() - 1, {"--metadata", "pagetitle=" + page_title});
    if (self_contained) args.insert(args.begin() + 6, "--self-contained");
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    fs::path errors = html_file.parent_path() / ("." + html_file.filename().string() + ".pandoc-stderr-" + std::to_string(getpid()));
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
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
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

} // namespace ripple::cli
