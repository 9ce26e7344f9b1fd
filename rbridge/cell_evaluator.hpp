// cell_evaluator.hpp: runs the code of one cell in the embedded R session and reports its outputs.
// Must not know about Jupyter or the engine: outputs go to an OutputSink, status is returned.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "output_sink.hpp"

namespace ripple::rbridge {

enum class EvalStatus { Ok, Error, Interrupted };

// How complete a piece of code is, from R's parser (answers Jupyter's is_complete_request).
enum class CodeCompleteness { Complete, Incomplete, Invalid };

struct Completion {
    std::vector<std::string> matches;
    int cursor_start = 0;
    int cursor_end = 0;
};

class CellEvaluator {
public:
    // Parses the whole cell, then evaluates it one top-level expression at a time in the global
    // environment. Console text streams live; intermediate visible values are displays, the last
    // one is the result; plots follow the cell's text; an error stops the cell (reported once).
    EvalStatus execute(const std::string& code, OutputSink& sink);
    // The next execute() hands its cell to knitr (ripple:::.knit_chunk, share/R/ripple/R/knit.R) with `request`
    // (R code of a list: chunk header, source, options): its output is one display of the chunk's Markdown
    // (text/markdown) and what the cache must keep with it (application/vnd.ripple.knit+json: figures, knitr's
    // chunk options after it, widget dependencies), then the error that stopped it, if any.
    void knit_next_cell(std::string request) { knit_request_ = std::move(request); }

    CodeCompleteness check_completeness(const std::string& code);
    Completion complete(const std::string& code, int cursor_pos);
    // Help for the name at the cursor (text/plain and text/html), or an empty bundle.
    MimeBundle inspect(const std::string& code, int cursor_pos);
    // How many times code was evaluated (execute, complete, inspect): what tells the engine's runtime that R code ran
    // between two of its own steps.
    std::uint64_t evaluations() const { return evaluations_; }

private:
    EvalStatus execute_knitted(const std::string& code, const std::string& request, OutputSink& sink);
    std::string knit_request_; // empty: the next cell is evaluated as in R's console
    std::uint64_t evaluations_ = 0;
};

} // namespace ripple::rbridge
