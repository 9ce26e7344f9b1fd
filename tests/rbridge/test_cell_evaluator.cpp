// test_cell_evaluator.cpp: doctest unit tests of rbridge against a real embedded R session:
// evaluation, visibility, errors, console capture, warnings, plots, parsing, completion, help.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "rbridge/cell_evaluator.hpp"
#include "rbridge/r_session.hpp"

using namespace ripple::rbridge;

namespace {

// Records every output as "kind:payload" lines, in order.
struct RecordingSink final : OutputSink {
    std::vector<std::string> events;
    std::vector<MimeBundle> displays;
    std::vector<MimeBundle> results;
    std::vector<ErrorInfo> errors;
    std::vector<MimeBundle> pages;
    std::string stdout_text, stderr_text;

    void stream(StreamName name, std::string_view text) override {
        (name == StreamName::Stdout ? stdout_text : stderr_text) += text;
        events.push_back(std::string(name == StreamName::Stdout ? "stdout:" : "stderr:") + std::string(text));
    }
    void display(const MimeBundle& b, const std::string& id, bool update) override {
        displays.push_back(b);
        events.push_back(std::string(update ? "update:" : "display:") + id);
    }
    void result(const MimeBundle& b) override {
        results.push_back(b);
        events.push_back("result");
    }
    void error(const ErrorInfo& e) override {
        errors.push_back(e);
        events.push_back("error:" + e.evalue);
    }
    void clear_output(bool) override { events.push_back("clear"); }
    void page(const MimeBundle& b) override {
        pages.push_back(b);
        events.push_back("page");
    }

    std::string result_text() const {
        return results.empty() ? "" : results.back().data.value("text/plain", std::string());
    }
};

RSession& session() {
    static RSession& s = RSession::start({RIPPLE_BUILD_R_LIBRARY, false});
    return s;
}

struct Fixture {
    Fixture() { session(); }
    CellEvaluator evaluator;
    EvalStatus run(const std::string& code, RecordingSink& sink) { return evaluator.execute(code, sink); }
};

} // namespace

TEST_CASE_FIXTURE(Fixture, "a visible last value is the result, invisible values show nothing") {
    RecordingSink sink;
    CHECK(run("x <- 1; x + 1", sink) == EvalStatus::Ok);
    CHECK(sink.result_text() == "[1] 2");
    CHECK(sink.displays.empty());

    RecordingSink quiet;
    CHECK(run("y <- 5\ninvisible(7)", quiet) == EvalStatus::Ok);
    CHECK(quiet.results.empty());
    CHECK(quiet.events.empty());
}

TEST_CASE_FIXTURE(Fixture, "intermediate visible values are displays, in order with the console") {
    RecordingSink sink;
    CHECK(run("1\ncat('between\\n')\n2", sink) == EvalStatus::Ok);
    REQUIRE(sink.events.size() == 3);
    CHECK(sink.events[0] == "display:");
    CHECK(sink.events[1] == "stdout:between\n");
    CHECK(sink.events[2] == "result");
    CHECK(sink.displays[0].data["text/plain"] == "[1] 1");
    CHECK(sink.result_text() == "[1] 2");
}

TEST_CASE_FIXTURE(Fixture, "console output: stdout, messages and warnings on stderr") {
    RecordingSink sink;
    CHECK(run("cat('hello, world\\n'); message('note'); warning('careful'); invisible()", sink) == EvalStatus::Ok);
    CHECK(sink.stdout_text == "hello, world\n");
    CHECK(sink.stderr_text.find("note\n") != std::string::npos);
    CHECK(sink.stderr_text.find("Warning message:") != std::string::npos);
    CHECK(sink.stderr_text.find("careful") != std::string::npos);
}

TEST_CASE_FIXTURE(Fixture, "an error stops the cell and is reported exactly once, with a traceback") {
    RecordingSink sink;
    EvalStatus status =
        run("f <- function() g()\ng <- function() stop('boom')\ncat('before\\n')\nf()\ncat('after\\n')", sink);
    CHECK(status == EvalStatus::Error);
    REQUIRE(sink.errors.size() == 1);
    CHECK(sink.errors[0].evalue == "boom");
    CHECK(sink.stdout_text == "before\n");
    std::string tb;
    for (const auto& line : sink.errors[0].traceback) tb += line + "\n";
    CHECK(tb.find("Error in g() : boom") != std::string::npos);
    CHECK(tb.find("1. f()") != std::string::npos);
    CHECK(tb.find("2. g()") != std::string::npos);
}

TEST_CASE_FIXTURE(Fixture, "a syntax error is one error and runs nothing") {
    RecordingSink sink;
    CHECK(run("cat('no')\n1 +* 2", sink) == EvalStatus::Error);
    CHECK(sink.errors.size() == 1);
    CHECK(sink.stdout_text.empty());
}

TEST_CASE_FIXTURE(Fixture, "deep recursion is an R error, not a crash") {
    RecordingSink sink;
    CHECK(run("f <- function(n) f(n + 1); f(0)", sink) == EvalStatus::Error);
    REQUIRE(sink.errors.size() == 1);
    RecordingSink after;
    CHECK(run("1 + 1", after) == EvalStatus::Ok);
    CHECK(after.result_text() == "[1] 2");
}

TEST_CASE_FIXTURE(Fixture, "plots: one image per page, png by default, svg on option") {
    RecordingSink sink;
    CHECK(run("plot(1:10); plot(10:1)", sink) == EvalStatus::Ok);
    REQUIRE(sink.displays.size() == 2);
    CHECK(sink.displays[0].data.contains("image/png"));
    std::string png = sink.displays[0].data["image/png"];
    CHECK(png.rfind("iVBORw0KGgo", 0) == 0); // base64 of the PNG signature
    CHECK(sink.displays[0].metadata["image/png"]["width"] == 840);

    RecordingSink svg;
    CHECK(run("options(ripple.plot.format = 'svg', repr.plot.width = 4); plot(1:3)", svg) == EvalStatus::Ok);
    REQUIRE(svg.displays.size() == 1);
    CHECK(svg.displays[0].data.contains("image/svg+xml"));
    RecordingSink reset;
    run("options(ripple.plot.format = NULL, repr.plot.width = 7)", reset);
}

TEST_CASE_FIXTURE(Fixture, "data frames carry text, HTML, markdown and LaTeX, truncated when big") {
    RecordingSink sink;
    CHECK(run("head(mtcars, 3)", sink) == EvalStatus::Ok);
    REQUIRE(sink.results.size() == 1);
    const auto& data = sink.results[0].data;
    for (const char* mime : {"text/plain", "text/html", "text/markdown", "text/latex"}) CHECK(data.contains(mime));
    CHECK(data["text/plain"].get<std::string>().find("Mazda RX4") != std::string::npos);

    RecordingSink big;
    CHECK(run("data.frame(a = seq_len(1e5), b = rnorm(1e5))", big) == EvalStatus::Ok);
    REQUIRE(big.results.size() == 1);
    CHECK(big.results[0].data["text/html"].get<std::string>().size() < 20000);
    CHECK(big.results[0].data["text/plain"].get<std::string>().size() < 20000);
}

TEST_CASE_FIXTURE(Fixture, "help goes to the pager as text and HTML") {
    RecordingSink sink;
    CHECK(run("?cat", sink) == EvalStatus::Ok);
    REQUIRE(sink.pages.size() == 1);
    CHECK(sink.pages[0].data["text/plain"].get<std::string>().find("Concatenate and Print") != std::string::npos);
    CHECK(sink.pages[0].data.contains("text/html"));
}

TEST_CASE_FIXTURE(Fixture, "quit() is refused with a clear error and the session lives on") {
    RecordingSink sink;
    CHECK(run("q()", sink) == EvalStatus::Error);
    REQUIRE(sink.errors.size() == 1);
    CHECK(sink.errors[0].evalue.find("quit() does not end a ripple kernel") != std::string::npos);
}

TEST_CASE_FIXTURE(Fixture, "is_complete follows R's parser") {
    CHECK(evaluator.check_completeness("1 + 1") == CodeCompleteness::Complete);
    CHECK(evaluator.check_completeness("") == CodeCompleteness::Complete);
    CHECK(evaluator.check_completeness("f <- function(") == CodeCompleteness::Incomplete);
    CHECK(evaluator.check_completeness("x <- \"open") == CodeCompleteness::Incomplete);
    CHECK(evaluator.check_completeness("1 +* 2") == CodeCompleteness::Invalid);
}

TEST_CASE_FIXTURE(Fixture, "completion uses R's completion chain") {
    Completion c = evaluator.complete("prin", 4);
    CHECK(c.cursor_start == 0);
    CHECK(c.cursor_end == 4);
    CHECK(std::find(c.matches.begin(), c.matches.end(), "print") != c.matches.end());

    Completion cols = evaluator.complete("x <- 1\nmtcars$m", 15);
    CHECK(std::find(cols.matches.begin(), cols.matches.end(), "mtcars$mpg") != cols.matches.end());
    CHECK(cols.cursor_start == 7);
}

TEST_CASE_FIXTURE(Fixture, "inspect finds help for a name at the cursor") {
    MimeBundle help = evaluator.inspect("print(x)", 2);
    CHECK(help.data.contains("text/plain"));
    CHECK(help.data.contains("text/html"));
    CHECK(evaluator.inspect("   ", 1).data.empty());
}

TEST_CASE_FIXTURE(Fixture, "display functions publish rich bundles") {
    RecordingSink sink;
    CHECK(run("ripple::display_html('<b>hi</b>'); ripple::clear_output()", sink) == EvalStatus::Ok);
    REQUIRE(sink.displays.size() == 1);
    CHECK(sink.displays[0].data["text/html"] == "<b>hi</b>");
    CHECK(sink.events.back() == "clear");
}
