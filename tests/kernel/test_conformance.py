"""Jupyter's own kernel conformance suite (jupyter_kernel_test) run against ripple.

Run:  /usr/bin/python3 -m pytest tests/kernel/test_conformance.py
      RIPPLE_TEST_KERNEL=ir /usr/bin/python3 -m pytest tests/kernel/test_conformance.py  (IRkernel)

The kernelspec is installed into a temporary prefix (see kernel_env.py); nothing global is touched.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jupyter_kernel_test  # noqa: E402

from kernel_env import KernelEnv, shutdown, kernel_under_test  # noqa: E402

KERNEL = kernel_under_test()


class RippleKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = KERNEL
    language_name = "R"
    file_extension = ".r"

    @classmethod
    def setUpClass(cls):
        # Install the kernelspec into a temporary prefix and start the kernel from there,
        # instead of jupyter_kernel_test's start_new_kernel (which searches global paths).
        cls.kenv = KernelEnv([cls.kernel_name]).__enter__()
        cls.km = cls.kenv.kernel_manager(cls.kernel_name)
        cls.km.start_kernel()
        cls.kc = cls.km.client()
        cls.kc.start_channels()
        try:
            cls.kc.wait_for_ready(timeout=60)
        except Exception:
            shutdown(cls.km, cls.kc)
            cls.kenv.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        shutdown(cls.km, cls.kc)
        cls.kenv.__exit__(None, None, None)

    # stdout / stderr streams
    code_hello_world = 'cat("hello, world\\n")'
    code_stderr = 'message("this goes to stderr")'

    # complete_request: with "matches" the suite demands the exact set of matches.
    completion_samples = [
        {"text": "prin"},
        {"text": "mtcars$"},
        {"text": "iris$Sepal.",
         "matches": ["iris$Sepal.Length", "iris$Sepal.Width"]},
        {"text": "mtcars$cy", "matches": ["mtcars$cyl"]},
    ]

    # is_complete_request: R parser status
    complete_code_samples = ["1+1", "x <- 1", "f <- function(x) x + 1", "if (TRUE) 1 else 2",
                             "{\n  1\n}"]
    incomplete_code_samples = ["f <- function(", "1 +", "{\n  x <- 1", 'x <- "open string']
    invalid_code_samples = ["1 +* 2", "x <- )", "f(,,]"]

    # pager payload from help
    code_page_something = "?cat"

    # exactly one error message, status error
    code_generate_error = 'stop("boom")'

    # last visible value -> execute_result
    code_execute_result = [
        {"code": "1+2", "result": "[1] 3"},
        {"code": "x <- 6; x * 7", "result": "[1] 42"},
        {"code": 'paste("a", "b")', "result": '[1] "a b"'},
        {"code": "c(TRUE, FALSE)", "result": "[1]  TRUE FALSE"},
        {"code": "head(mtcars, 3)", "mime": "text/html"},
        {"code": "head(mtcars, 3)", "mime": "text/markdown"},
        {"code": "head(mtcars, 3)", "mime": "text/latex"},
        {"code": "matrix(1:4, 2)", "mime": "text/html"},
    ]

    # display_data: plots as PNG, explicit HTML display
    code_display_data = [
        {"code": "plot(1:10)", "mime": "image/png"},
        {"code": 'ripple::display_html("<b>hi</b>")' if KERNEL == "ripple"
         else 'IRdisplay::display_html("<b>hi</b>")', "mime": "text/html"},
    ]

    # history: pattern must match one of code_execute_result (IPython-style glob)
    code_history_pattern = "1?2"
    supported_history_operations = ("tail", "range", "search")

    # inspect_request
    code_inspect_sample = "print"

    # clear_output
    code_clear_output = ("ripple::clear_output()" if KERNEL == "ripple"
                         else "IRdisplay::clear_output()")


if __name__ == "__main__":
    unittest.main()
