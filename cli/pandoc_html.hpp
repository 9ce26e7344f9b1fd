// pandoc_html.hpp: Markdown to standalone HTML with Debian's pandoc (optionally self-contained: figures embedded).
// Must not know about R, knitr or the engine; it runs one program and reports its failure in a sentence.
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ripple::cli {

class PandocError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Converts `markdown_file` into `html_file`; relative links resolve against `resource_dir`. `page_title` (if not empty)
// is the HTML title of a document without one; `head_file` (if not empty) goes into the page's <head> (widget
// libraries). Throws PandocError (pandoc missing or failing, with its first error line).
void pandoc_to_html(const std::filesystem::path& markdown_file, const std::filesystem::path& html_file,
                    const std::filesystem::path& resource_dir, bool self_contained, const std::string& page_title,
                    const std::filesystem::path& head_file = {});

// A content key for one such conversion, for the persistent cache (the same Markdown, figures, options and pandoc give
// the same HTML): SHA-256 over the pandoc program found on PATH (its stamp), pandoc's user data folders (stamps), the
// options, the Markdown and the content of `figures`. nullopt when pandoc is not on PATH.
std::optional<std::string> pandoc_run_key(const std::string& markdown, const std::filesystem::path& resource_dir,
                                          bool self_contained, const std::string& page_title,
                                          const std::vector<std::filesystem::path>& figures);

} // namespace ripple::cli
