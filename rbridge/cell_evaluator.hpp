// cell_evaluator.hpp: runs the code of one cell in the embedded R session and reports its outputs.
// Must not know about Jupyter or the engine: outputs go to an OutputSink, status is returned.
#pragma once

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

    CodeCompleteness check_completeness(const std::string& code);
    Completion complete(const std::string& code, int cursor_pos);
    // Help for the name at the cursor (text/plain and text/html), or an empty bundle.
    MimeBundle inspect(const std::string& code, int cursor_pos);
};

} // namespace ripple::rbridge
