// test_cli_documents.cpp: run-notebook's pure parts without R: command line, nbformat reading/writing, YAML headers,
// R Markdown chunks and options, R literals, reports, atomic writes.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "cli/atomic_file.hpp"
#include "cli/command_line.hpp"
#include "cli/notebook_file.hpp"
#include "cli/r_literal.hpp"
#include "cli/rmd_document.hpp"
#include "cli/run_report.hpp"
#include "cli/run_support.hpp"
#include "cli/yaml_header.hpp"

using namespace ripple::cli;
using nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

namespace {

EnvLookup fake_env(std::map<std::string, std::string> values) {
    return [values](const std::string& name) -> std::optional<std::string> {
        auto found = values.find(name);
        if (found == values.end()) return std::nullopt;
        return found->second;
    };
}

RunRequest parse_run(std::vector<std::string> args) {
    return std::get<RunRequest>(parse_command_line(args, fake_env({{"HOME", "/home/u"}})));
}

std::string usage_error(std::vector<std::string> args) {
    try {
        parse_command_line(args, fake_env({}));
    } catch (const UsageError& e) {
        return e.what();
    }
    return "";
}

const char* kNotebook = R"({
 "cells": [
  {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "text"]},
  {"cell_type": "code", "execution_count": null, "metadata": {"tags": ["parameters"]}, "outputs": [], "source": "n <- 1"},
  {"cell_type": "code", "execution_count": 3, "metadata": {}, "outputs": [], "source": ["x <- n + 1\n", "x"]}
 ],
 "metadata": {"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}},
 "nbformat": 4,
 "nbformat_minor": 2
})";

} // namespace

TEST_CASE("command line: a notebook run with every papermill-style option") {
    RunRequest run = parse_run({"in.ipynb",     "-o",       "out.ipynb", "-p",         "n",           "10",
                                "-p",           "name",     "\"east\"",  "--timeout",  "2.5",         "--allow-errors",
                                "--cwd",        "/tmp",     "--force",   "--no-cache", "--cache-dir", "/c",
                                "--log-output", "--report", "json",      "r.json",     "--report",    "junit",
                                "r.xml",        "--quiet"});
    CHECK(run.kind == InputKind::Notebook);
    CHECK(run.output->string() == "out.ipynb");
    REQUIRE(run.parameters.size() == 2);
    CHECK(run.parameters[1].name == "name");
    CHECK(run.parameters[1].value == "\"east\"");
    CHECK(*run.timeout_seconds == doctest::Approx(2.5));
    CHECK(run.allow_errors);
    CHECK(run.cwd->string() == "/tmp");
    CHECK(run.cache.force);
    CHECK_FALSE(run.cache.enabled);
    CHECK(run.cache.dir.string() == "/c");
    CHECK(run.log_output);
    REQUIRE(run.reports.size() == 2);
    CHECK(run.reports[1].kind == ReportKind::Junit);
    CHECK(run.quiet);
    CHECK(parse_run({"a.ipynb", "-p", "delta", "-1"}).parameters[0].value == "-1");
}

TEST_CASE("command line: the cache directory comes from --cache-dir, RIPPLE_CACHE_DIR, XDG_CACHE_HOME, HOME") {
    auto dir = [](std::map<std::string, std::string> env) {
        return std::get<RunRequest>(parse_command_line({"a.ipynb"}, fake_env(env))).cache.dir.string();
    };
    CHECK(dir({{"RIPPLE_CACHE_DIR", "/r"}, {"XDG_CACHE_HOME", "/x"}, {"HOME", "/h"}}) == "/r");
    CHECK(dir({{"XDG_CACHE_HOME", "/x"}, {"HOME", "/h"}}) == "/x/ripple");
    CHECK(dir({{"HOME", "/h"}}) == "/h/.cache/ripple");
}

TEST_CASE("command line: R Markdown targets from --to or the output name") {
    CHECK(*parse_run({"doc.Rmd", "--to", "md"}).to == RenderTarget::Markdown);
    CHECK(*parse_run({"doc.Rmd", "-o", "x.html"}).to == RenderTarget::Html);
    CHECK_FALSE(parse_run({"doc.Rmd"}).to.has_value());
    CHECK(parse_run({"doc.rmd", "--to", "html", "--self-contained"}).self_contained);
}

TEST_CASE("command line: usage mistakes are one sentence each") {
    CHECK(usage_error({"a.ipynb", "--bogus"}).find("unknown option --bogus") != std::string::npos);
    CHECK(usage_error({"a.txt"}).find("neither a notebook") != std::string::npos);
    CHECK(usage_error({"a.ipynb", "--timeout", "0"}).find("positive number") != std::string::npos);
    CHECK(usage_error({"a.ipynb", "--timeout"}).find("needs a value") != std::string::npos);
    CHECK(usage_error({"a.ipynb", "-p", "2x", "1"}).find("not an R variable name") != std::string::npos);
    CHECK(usage_error({"a.ipynb", "-p", "x"}).find("needs a value") != std::string::npos);
    CHECK(usage_error({"a.ipynb", "--report", "xml", "f"}).find("json or junit") != std::string::npos);
    CHECK(usage_error({"a.ipynb", "--to", "html"}).find("R Markdown") != std::string::npos);
    CHECK(usage_error({"a.ipynb", "-o", "b.txt"}).find(".ipynb") != std::string::npos);
    CHECK(usage_error({"a.Rmd", "--to", "md", "-o", "b.html"}).find("does not match") != std::string::npos);
    CHECK(usage_error({"a.Rmd", "--to", "md", "--self-contained"}).find("HTML") != std::string::npos);
    CHECK(usage_error({"a.ipynb", "b.ipynb"}).find("one input file") != std::string::npos);
    CHECK(usage_error({}).find("give a notebook") != std::string::npos);
    CHECK(usage_error({"cache", "purge"}).find("stats, gc or clear") != std::string::npos);
    CHECK(usage_error({"cache", "gc", "--max-size", "lots"}).find("500M") != std::string::npos);
}

TEST_CASE("command line: why and cache subcommands") {
    auto why = std::get<WhyRequest>(parse_command_line({"why", "nb.ipynb", "cell-3"}, fake_env({})));
    CHECK(why.notebook.string() == "nb.ipynb");
    CHECK(*why.cell == "cell-3");
    CHECK(why.kind == InputKind::Notebook);
    auto why_rmd = std::get<WhyRequest>(parse_command_line({"why", "doc.Rmd", "--cache-dir", "/c"}, fake_env({})));
    CHECK(why_rmd.kind == InputKind::RMarkdown);
    CHECK(why_rmd.cache.dir == "/c");
    CHECK_THROWS_AS(parse_command_line({"why"}, fake_env({})), UsageError);
    auto gc = std::get<CacheRequest>(parse_command_line({"cache", "gc", "--max-size", "500M"}, fake_env({})));
    CHECK(gc.action == CacheRequest::Action::Gc);
    CHECK(*gc.max_size_bytes == 500ull << 20);
    CHECK(std::holds_alternative<HelpRequest>(parse_command_line({"--help"}, fake_env({}))));
    // The same sizes as RIPPLE_CACHE_MAX_SIZE (dag::parse_byte_size), fractions and spaced units included.
    auto gc_size = [](const std::string& size) {
        return std::get<CacheRequest>(parse_command_line({"cache", "gc", "--max-size", size}, fake_env({})))
            .max_size_bytes;
    };
    CHECK(*gc_size("2G") == (2ull << 30));
    CHECK(*gc_size("1.5G") == (3ull << 29));
    CHECK(*gc_size("2 GiB") == (2ull << 30));
    CHECK(*gc_size("1024") == 1024u);
    CHECK(*gc_size("0") == 0u);
    CHECK_THROWS_AS(gc_size("M"), UsageError);
    CHECK(is_syntactic_r_name(".x_1"));
    CHECK_FALSE(is_syntactic_r_name(".2x"));
    CHECK_FALSE(is_syntactic_r_name("if"));
}

TEST_CASE("cache: sizes read as people write them, and one scope for every name of a document") {
    CHECK(human_size(0) == "0 B");
    CHECK(human_size(1023) == "1023 B");
    CHECK(human_size(1536) == "1.5 KB");
    CHECK(human_size(500ull << 20) == "500 MB");
    CHECK(human_size(3ull << 30) == "3.0 GB");
    auto dir = std::filesystem::temp_directory_path() / ("ripple-scope-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "real");
    std::filesystem::create_symlink(dir / "real", dir / "link");
    std::ofstream(dir / "real" / "nb.ipynb") << "{}";
    const std::string real = std::filesystem::canonical(dir / "real" / "nb.ipynb").string();
    CHECK(cache_scope(dir / "link" / "nb.ipynb") == real);
    CHECK(cache_scope(dir / "real" / "." / "nb.ipynb") == real);
    std::filesystem::remove_all(dir);
}

TEST_CASE("notebook: reading upgrades to nbformat 4.5 with ids and keeps everything else") {
    NotebookFile notebook = NotebookFile::parse(kNotebook, "nb.ipynb");
    REQUIRE(notebook.cell_count() == 3);
    CHECK(notebook.document()["nbformat_minor"] == 5);
    CHECK(is_valid_cell_id(notebook.id(0)));
    CHECK(notebook.id(0) != notebook.id(1));
    CHECK(notebook.source(2) == "x <- n + 1\nx");
    CHECK(notebook.tags(1).count("parameters"));
    CHECK(notebook.document()["metadata"]["kernelspec"]["name"] == "ir");
    CHECK_FALSE(notebook.repairs().empty());
    std::string written = notebook.serialize();
    json reread = json::parse(written);
    CHECK(reread["cells"][2]["source"] == json::array({"x <- n + 1\n", "x"}));
    CHECK(reread["cells"][1]["source"] == json::array({"n <- 1"}));
    CHECK(written.substr(0, 3) == "{\n "); // nbformat's one-space indent
    CHECK(written.back() == '\n');
}

TEST_CASE("notebook: duplicate and invalid ids are replaced, valid ones kept") {
    const char* text = R"({"cells": [
      {"cell_type": "code", "id": "a", "metadata": {}, "outputs": [], "source": "1", "execution_count": null},
      {"cell_type": "code", "id": "a", "metadata": {}, "outputs": [], "source": "2", "execution_count": null},
      {"cell_type": "code", "id": "bad id!", "metadata": {}, "outputs": [], "source": "3", "execution_count": null}],
      "metadata": {}, "nbformat": 4, "nbformat_minor": 5})";
    NotebookFile notebook = NotebookFile::parse(text, "nb.ipynb");
    CHECK(notebook.id(0) == "a");
    CHECK(notebook.id(1) != "a");
    CHECK(is_valid_cell_id(notebook.id(2)));
    CHECK(notebook.repairs().size() == 2);
}

TEST_CASE("notebook: what is not a runnable notebook is one sentence naming the file") {
    auto error = [](const std::string& text) {
        try {
            NotebookFile::parse(text, "bad.ipynb");
        } catch (const NotebookError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(error("{\"cells\": [").find("bad.ipynb is not valid JSON (line 1") != std::string::npos);
    CHECK(error("[1, 2]").find("not a Jupyter notebook") != std::string::npos);
    CHECK(error(R"({"cells": [], "nbformat": 3, "metadata": {}})").find("nbformat 3") != std::string::npos);
    CHECK(error(R"({"cells": [{"cell_type": "weird", "source": ""}], "nbformat": 4, "metadata": {}})")
              .find("unknown cell_type") != std::string::npos);
    CHECK(error(R"({"cells": [{"cell_type": "code", "source": 5}], "nbformat": 4, "metadata": {}})")
              .find("source of cell 1") != std::string::npos);
    CHECK(
        error(R"({"cells": [], "nbformat": 4, "metadata": {"kernelspec": {"language": "python", "name": "python3"}}})")
            .find("python notebook") != std::string::npos);
}

TEST_CASE("notebook: parameters go after the cell tagged parameters, or first; a rerun replaces them") {
    NotebookFile notebook = NotebookFile::parse(kNotebook, "nb.ipynb");
    bool after = false;
    size_t at = notebook.inject_parameters("n <- 5\n", after);
    CHECK(after);
    CHECK(at == 2);
    CHECK(notebook.tags(2).count("injected-parameters"));
    CHECK(notebook.id(2) == "injected-parameters");
    at = notebook.inject_parameters("n <- 6\n", after);
    CHECK(at == 2);
    CHECK(notebook.cell_count() == 4);
    CHECK(notebook.source(2) == "n <- 6\n");

    NotebookFile plain = NotebookFile::parse(R"({"cells": [{"cell_type": "code", "source": "1", "metadata": {}}],
        "nbformat": 4, "nbformat_minor": 5, "metadata": {}})",
                                             "p.ipynb");
    at = plain.inject_parameters("n <- 5\n", after);
    CHECK_FALSE(after);
    CHECK(at == 0);
}

TEST_CASE("notebook: outputs, counts and timing are written as nbformat and nbclient write them") {
    NotebookFile notebook = NotebookFile::parse(kNotebook, "nb.ipynb");
    CellOutput shown;
    shown.kind = CellOutput::Kind::Display;
    shown.data = {{"text/plain", "a\nb"}, {"image/png", "iVBORw0KGgo="}};
    CellOutput result;
    result.kind = CellOutput::Kind::Result;
    result.data = {{"text/plain", "[1] 2"}};
    CellTiming timing{"2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:01.000000Z", 1.0, false};
    notebook.set_outputs(2,
                         {CellOutput::stream_text("stdout", "one\n"), CellOutput::stream_text("stdout", "two\n"),
                          CellOutput::stream_text("stderr", "warn\n"), shown, result,
                          CellOutput::error("simpleError", "boom", {"Error: boom"})},
                         7, timing);
    json cell = json::parse(notebook.serialize())["cells"][2];
    REQUIRE(cell["outputs"].size() == 5);
    CHECK(cell["outputs"][0]["text"] == json::array({"one\n", "two\n"})); // one stream, merged
    CHECK(cell["outputs"][1]["name"] == "stderr");
    CHECK(cell["outputs"][2]["output_type"] == "display_data");
    CHECK(cell["outputs"][2]["data"]["text/plain"] == json::array({"a\n", "b"}));
    CHECK(cell["outputs"][2]["data"]["image/png"] == "iVBORw0KGgo=");
    CHECK(cell["outputs"][3]["execution_count"] == 7);
    CHECK(cell["outputs"][4]["ename"] == "simpleError");
    CHECK(cell["execution_count"] == 7);
    CHECK(cell["metadata"]["execution"]["shell.execute_reply"] == timing.finished);
    notebook.clear_outputs(2);
    cell = json::parse(notebook.serialize())["cells"][2];
    CHECK(cell["outputs"].empty());
    CHECK(cell["execution_count"].is_null());
}

TEST_CASE("atomic write: the target is replaced whole and keeps its mode; a failed write leaves it") {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("ripple-cli-test-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::path file = dir / "nb.ipynb";
    { std::ofstream(file) << "old"; }
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    write_file_atomically(file, "new content");
    CHECK(read_text_file(file) == "new content");
    CHECK((fs::status(file).permissions() & fs::perms::others_read) == fs::perms::none);
    size_t entries = std::distance(fs::directory_iterator(dir), fs::directory_iterator());
    CHECK(entries == 1); // no temp file left behind
    CHECK_THROWS_AS(write_file_atomically(dir / "missing" / "x", "y"), FileError);
    CHECK_THROWS_AS(read_text_file(dir / "nope.ipynb"), FileError);
    fs::remove_all(dir);
}

TEST_CASE("R literals: chunk option values and dput() output") {
    CHECK(*parse_r_literal("TRUE") == true);
    CHECK(*parse_r_literal(" F ") == false);
    CHECK(*parse_r_literal("7") == 7);
    CHECK(parse_r_literal("-2.5")->get<double>() == doctest::Approx(-2.5));
    CHECK(*parse_r_literal("3L") == 3);
    CHECK(parse_r_literal("1e3")->get<double>() == doctest::Approx(1000));
    CHECK(*parse_r_literal("'A, \"b\"'") == "A, \"b\"");
    CHECK(*parse_r_literal("\"tab\\there\"") == "tab\there");
    CHECK(parse_r_literal("NULL")->is_null());
    CHECK(is_r_na(*parse_r_literal("NA")));
    CHECK(*parse_r_literal("c(7, 5)") == json::array({7, 5}));
    CHECK(*parse_r_literal("c('x')") == "x");
    CHECK(*parse_r_literal("list(echo = FALSE, fig.cap = NULL)") == json{{"echo", false}, {"fig.cap", nullptr}});
    CHECK(*parse_r_literal("list()") == json::object());
    CHECK_FALSE(parse_r_literal("params$n").has_value());
    CHECK_FALSE(parse_r_literal("1 + 1").has_value());
    CHECK_FALSE(parse_r_literal("x").has_value());
    CHECK(r_string_literal("a\"b\\c\n") == "\"a\\\"b\\\\c\\n\"");
    CHECK(r_code_for(OrderedJson("east")) == "\"east\"");
    CHECK(r_code_for(OrderedJson(true)) == "TRUE");
    CHECK(r_code_for(OrderedJson(5)) == "5");
    CHECK(r_code_for(OrderedJson(nullptr)) == "NULL");
    CHECK(r_code_for(OrderedJson::array({1, 2.5})) == "c(1, 2.5)");
    CHECK(r_code_for(OrderedJson{{"!r", "Sys.Date()"}}) == "(Sys.Date())");
    CHECK(r_code_for(OrderedJson{{"a", 1}}) == "list(`a` = 1)");
}

TEST_CASE("YAML headers: what R Markdown documents use") {
    OrderedJson header = parse_yaml(R"(title: "Sales: `r params$region`"
author:
  - Ann
  - name: Bob
date: 2026-01-02
output:
  html_document:
    toc: yes
    fig_width: 6
params:
  region: east   # a comment
  n: 10
  ratio: 0.5
  start: !r Sys.Date()
  tags: [a, "b c", 3]
  opts: {x: 1, y: two}
abstract: |
  Line one
  Line two
note: >
  folded
  text
quoted: 'it''s'
empty:
)");
    CHECK(header["title"] == "Sales: `r params$region`");
    CHECK(header["author"][0] == "Ann");
    CHECK(header["author"][1]["name"] == "Bob");
    CHECK(header["date"] == "2026-01-02");
    CHECK(header["output"]["html_document"]["toc"] == true);
    CHECK(header["output"]["html_document"]["fig_width"] == 6);
    CHECK(header["params"]["region"] == "east");
    CHECK(header["params"]["ratio"].get<double>() == doctest::Approx(0.5));
    CHECK(header["params"]["start"]["!r"] == "Sys.Date()");
    CHECK(header["params"]["tags"] == OrderedJson::array({"a", "b c", 3}));
    CHECK(header["params"]["opts"]["y"] == "two");
    CHECK(header["abstract"] == "Line one\nLine two\n");
    CHECK(header["note"] == "folded text\n");
    CHECK(header["quoted"] == "it's");
    CHECK(header["empty"].is_null());
    CHECK(header.begin().key() == "title"); // key order is kept
    CHECK(parse_yaml("output: html_document\n")["output"] == "html_document");
    CHECK(parse_yaml("title: \"A long\n  title\"\n")["title"] == "A long title");
}

TEST_CASE("YAML headers: malformed input names the line") {
    auto line_of = [](const std::string& text) -> size_t {
        try {
            parse_yaml(text, 2);
        } catch (const YamlError& e) {
            return e.line();
        }
        return 0;
    };
    CHECK(line_of("title: x\nauthor: \"unclosed\n") == 3);
    CHECK(line_of("title: x\n  nested: wrong\n") == 3);
    CHECK(line_of("a: 1\na: 2\n") == 3);
    CHECK(line_of("a: 1\n\tb: 2\n") == 3);
    CHECK(line_of("a: 1\njust text\n") == 3);
    CHECK(line_of("a: [1, 2\n") == 2);
}

TEST_CASE("R Markdown: header, chunks with labels and options, text, inline code") {
    const char* text = "---\ntitle: T\nparams:\n  n: 3\n---\n\nIntro `r 1 + 1` and `r params$n`.\n\n"
                       "```{r setup, include=FALSE, fig.cap=\"A, B\"}\nx <- 1\n```\n\n"
                       "```{r}\n#| echo: false\n#| fig-width: 5\ny <- x\n```\n\n"
                       "```{python}\nprint(1)\n```\n"
                       "````{r label='quoted'}\nz <- 1\n````\n";
    RmdDocument doc = parse_rmd(text, "doc.Rmd");
    CHECK(doc.has_header);
    CHECK(doc.header["params"]["n"] == 3);
    REQUIRE(doc.blocks.size() == 7);
    const auto& intro = std::get<TextBlock>(doc.blocks[0]);
    CHECK(intro.line == 6);
    auto spans = find_inline_code(intro.text);
    REQUIRE(spans.size() == 2);
    CHECK(spans[0].code == "1 + 1");
    CHECK(spans[1].code == "params$n");
    CHECK(intro.text.substr(spans[0].offset, spans[0].length) == "`r 1 + 1`");
    const auto& setup = std::get<Chunk>(doc.blocks[1]);
    CHECK(setup.label == "setup");
    CHECK(setup.line == 9);
    CHECK(*option_code(setup, "include") == "FALSE");
    CHECK(*option_code(setup, "fig.cap") == "\"A, B\"");
    CHECK(setup.code == "x <- 1\n");
    const auto& unnamed = std::get<Chunk>(doc.blocks[3]);
    CHECK(unnamed.label == "unnamed-chunk-1"); // knitr numbers unnamed chunks only
    CHECK(*option_code(unnamed, "echo") == "FALSE");
    CHECK(*option_code(unnamed, "fig.width") == "5");
    CHECK(unnamed.code == "y <- x\n"); // #| lines are not part of the code
    CHECK(std::get<Chunk>(doc.blocks[5]).engine == "python");
    CHECK(std::get<Chunk>(doc.blocks[6]).label == "quoted");
    CHECK(std::get<Chunk>(doc.blocks[6]).code == "z <- 1\n");
}

TEST_CASE("R Markdown: malformed documents are one sentence naming the line") {
    auto error = [](const std::string& text) {
        try {
            parse_rmd(text, "doc.Rmd");
        } catch (const RmdError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(error("---\ntitle: x\n\ntext\n") ==
          "doc.Rmd line 1: the YAML header is never closed (add a line with --- after it).");
    CHECK(error("---\ntitle: \"x\n---\n").find("doc.Rmd line 2: the YAML header is malformed") == 0);
    CHECK(error("text\n```{r a}\nx <- 1\n") ==
          "doc.Rmd line 2: the chunk {r a} is never closed (add a line with ``` after its code).");
    CHECK(error("```{r a}\nx\n\n```{r b}\ny\n```\n")
              .find("line 1: the chunk {r a} is not closed before the next chunk starts on line 4") !=
          std::string::npos);
    CHECK(error("```{r a}\n1\n```\n```{r a}\n2\n```\n")
              .find("line 4: the chunk label \"a\" is already used by the chunk on line 1") != std::string::npos);
    CHECK(error("```{r a, echo}\n1\n```\n").find("not name=value") != std::string::npos);
    CHECK(error("```{r a, =1}\n1\n```\n").find("line 1") != std::string::npos);
    CHECK(error("```{r}\n#| echo: [\n1\n```\n").find("line 2: the #| chunk options are malformed") !=
          std::string::npos);
}

TEST_CASE("reports: JSON has every cell, JUnit has failures and skips") {
    RunRecord run;
    run.input = "nb.ipynb";
    run.output = "out.ipynb";
    run.kind = "notebook";
    run.exit_code = ExitCode::CellFailed;
    run.started = iso_timestamp_now();
    CellRecord ok{1, "a", "x <- 1", 0, CellStatus::Ok, 0.1, false, 1, std::nullopt};
    CellRecord failed{2,
                      "b",
                      "stop(\"<bad>\")",
                      0,
                      CellStatus::Error,
                      0.2,
                      false,
                      2,
                      CellOutput::error("simpleError", "<bad> & worse", {"Error: <bad>"})};
    CellRecord skipped{3, "c", "", 0, CellStatus::Skipped, 0, false, std::nullopt, std::nullopt};
    run.cells = {ok, failed, skipped};
    json report = json::parse(report_json(run));
    CHECK(report["exit_code"] == 1);
    CHECK(report["cells"][1]["status"] == "error");
    CHECK(report["cells"][1]["error"]["evalue"] == "<bad> & worse");
    CHECK(report["counts"]["failed"] == 1);
    CHECK(report["cache"]["available"] == false);
    std::string xml = report_junit(run);
    CHECK(xml.find("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\"") != std::string::npos);
    CHECK(xml.find("<failure type=\"simpleError\" message=\"&lt;bad&gt; &amp; worse\">") != std::string::npos);
    CHECK(xml.find("<skipped") != std::string::npos);
    CHECK(iso_timestamp_now().back() == 'Z');
}

TEST_CASE("base64 decoding of figures") {
    CHECK(*decode_base64("aGVsbG8=") == "hello");
    CHECK(*decode_base64("aGVs\nbG8h") == "hello!");
    CHECK_FALSE(decode_base64("a$b").has_value());
    CHECK(shorten("first line that is long\nsecond", 10) == "first lin\u2026");
    CHECK(shorten("#| cache: false\n#| label: x\n\nx + 1\n", 40) == "x + 1");
    CHECK(shorten("#| cache: false", 40) == "#| cache: false"); // nothing else to show
}
