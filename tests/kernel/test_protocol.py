"""Protocol and behaviour tests for the ripple kernel beyond jupyter_kernel_test's suite.

Run:  /usr/bin/python3 -m pytest tests/kernel/test_protocol.py
      RIPPLE_TEST_KERNEL=ir /usr/bin/python3 -m pytest tests/kernel/test_protocol.py  (IRkernel)

Every test asserts something a notebook user would notice. Tests that can break or wedge a
kernel (interrupts, recursion, q(), restart, raw sockets) get a fresh kernel each; the rest
share one. Tests that could leave a cell running forever if the kernel misbehaves (stdin,
huge outputs) also get their own kernel. Every wait is bounded.
"""

import json
import os
import re
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from jupyter_client.session import Session  # noqa: E402

from kernel_env import (  # noqa: E402
    ExecuteTimeout, KernelEnv, RawClient, collect, execute, kernel_info, kernel_pid,
    kernel_under_test, send_execute, shutdown, wait_reply,
)

KERNEL = kernel_under_test()
# Package providing display helpers in the kernel under test.
DISPLAY_PKG = "ripple" if KERNEL == "ripple" else "IRdisplay"


# ---------------------------------------------------------------------------------------
# fixtures

@pytest.fixture(scope="module")
def kenv():
    with KernelEnv([KERNEL]) as env:
        yield env


def _start(kenv, env=None):
    km = kenv.kernel_manager(KERNEL)
    kwargs = {}
    if env is not None:
        full = dict(os.environ)
        full.update({k: v for k, v in env.items() if v is not None})
        for k in [k for k, v in env.items() if v is None]:
            full.pop(k, None)
        kwargs["env"] = full
    km.start_kernel(**kwargs)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
    except Exception:
        shutdown(km, kc)
        raise
    return km, kc


@pytest.fixture(scope="module")
def shared(kenv):
    km, kc = _start(kenv)
    yield km, kc
    shutdown(km, kc)


@pytest.fixture
def kc(shared):
    km, kc = shared
    if not km.is_alive():
        pytest.fail("the shared kernel died in an earlier test")
    _drain(kc)
    return kc


@pytest.fixture
def fresh(kenv):
    km, kc = _start(kenv)
    yield km, kc
    shutdown(km, kc)


def _drain(kc):
    from queue import Empty
    for get in (kc.get_shell_msg, kc.get_iopub_msg, kc.get_stdin_msg):
        while True:
            try:
                get(timeout=0.05)
            except Empty:
                break


def run(kc, code, timeout=30, **kw):
    return execute(kc, code, timeout=timeout, **kw)


def assert_ok(res):
    assert res.status == "ok", f"expected status ok; {res.summary()}"


def result_text(res, msg_type="execute_result"):
    msgs = res.of_type(msg_type)
    if not msgs and KERNEL == "ir":
        # Harness debugging against IRkernel only: it publishes every value as display_data.
        msgs = res.of_type("display_data")
    assert msgs, f"no {msg_type}; {res.summary()}"
    return msgs[-1]["content"]["data"].get("text/plain")


def assert_kernel_works(kc, timeout=15):
    """The kernel answers kernel_info and runs a normal cell correctly."""
    info = kernel_info(kc, timeout=timeout)
    assert info["content"]["status"] == "ok"
    res = run(kc, "1 + 1", timeout=timeout)
    assert_ok(res)
    assert result_text(res) == "[1] 2", res.summary()


def wait_busy(kc, msg_id, timeout=10):
    """Wait until the kernel publishes busy for msg_id (the cell has started running)."""
    from queue import Empty
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            m = kc.get_iopub_msg(timeout=0.1)
        except Empty:
            continue
        if (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status"
                and m["content"]["execution_state"] == "busy"):
            return
    pytest.fail(f"kernel never went busy for the cell within {timeout}s")


# ---------------------------------------------------------------------------------------
# kernel info

def test_kernel_info_language(kc):
    info = kernel_info(kc)["content"]
    li = info["language_info"]
    assert li["name"] == "R"
    assert li["file_extension"] == ".r"
    assert info["protocol_version"].startswith("5."), info["protocol_version"]
    res = run(kc, "cat(as.character(getRversion()))")
    assert_ok(res)
    assert li.get("version") == res.stream_text().strip(), \
        f"language_info.version {li.get('version')!r} is not the running R's version"


def test_comm_info_request_answered(kc):
    # JupyterLab and ipywidgets send comm_info_request; a kernel that ignores it hangs them.
    from kernel_env import shell_request
    reply = shell_request(kc, "comm_info_request", {}, timeout=10)
    assert reply["msg_type"] == "comm_info_reply"
    assert isinstance(reply["content"].get("comms"), dict), reply["content"]


# ---------------------------------------------------------------------------------------
# streams

def test_live_streaming(kc):
    code = 'for (i in 1:15) { cat(i, "\\n"); Sys.sleep(0.1) }'
    res = run(kc, code, timeout=30)
    assert_ok(res)
    streams = [(m, t) for m, t in zip(res.iopub, res.times)
               if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"]
    assert streams, res.summary()
    text = "".join(m["content"]["text"] for m, _ in streams)
    assert [int(x) for x in text.split()] == list(range(1, 16)), repr(text)
    first_stream_t = streams[0][1]
    idle_t = res.times[-1]
    assert idle_t - first_stream_t > 1.0, (
        f"first stdout arrived only {idle_t - first_stream_t:.2f}s before the cell finished: "
        "output is buffered until the end instead of streamed live")
    assert len(streams) >= 5, f"only {len(streams)} stream messages for 15 timed writes"
    # kernel-side timestamps agree: first stream stamped well before the reply
    t_stream = streams[0][0]["header"]["date"]
    t_reply = res.reply["header"]["date"]
    assert (t_reply - t_stream).total_seconds() > 0.5, (t_stream, t_reply)


def test_stdout_and_stderr_streams(kc):
    res = run(kc, 'cat("out\\n"); message("err")')
    assert_ok(res)
    assert "out" in res.stream_text("stdout"), res.summary()
    assert "err" in res.stream_text("stderr"), res.summary()


def test_warning_is_shown(kc):
    res = run(kc, 'f <- function() { warning("careful"); 1 }; f()')
    assert_ok(res)
    assert "careful" in res.stream_text("stderr"), f"warning not shown; {res.summary()}"
    assert result_text(res) == "[1] 1"


def test_interactive_is_true(kc):
    res = run(kc, "cat(interactive())")
    assert_ok(res)
    assert res.stream_text().strip() == "TRUE", res.summary()


# ---------------------------------------------------------------------------------------
# rich output

def test_intermediate_display_data_then_execute_result(kc):
    res = run(kc, "1; 2")
    assert_ok(res)
    shown = [(m["msg_type"], m["content"]["data"].get("text/plain")) for m in res.outputs
             if m["msg_type"] in ("display_data", "execute_result")]
    assert shown == [("display_data", "[1] 1"), ("execute_result", "[1] 2")], res.summary()


def test_invisible_value_not_shown(kc):
    res = run(kc, "x <- 5; invisible(7)")
    assert_ok(res)
    assert not res.of_type("execute_result") and not res.of_type("display_data"), \
        res.summary()


def test_execute_count_in_result(kc):
    res = run(kc, "40 + 2")
    assert_ok(res)
    er = res.of_type("execute_result")
    assert er, res.summary()
    assert er[0]["content"]["execution_count"] == res.reply["content"]["execution_count"]


def test_data_frame_representations(kc):
    res = run(kc, "head(mtcars, 3)")
    assert_ok(res)
    er = res.of_type("execute_result")
    assert er, res.summary()
    data = er[-1]["content"]["data"]
    for mime in ("text/plain", "text/html", "text/markdown", "text/latex"):
        assert mime in data, f"{mime} missing from {sorted(data)}"
    assert "Mazda RX4" in data["text/plain"]
    assert "<table" in data["text/html"] and "Mazda RX4" in data["text/html"]


def test_big_data_frame_is_truncated(fresh):
    _km, kc = fresh
    code = "big <- data.frame(x = seq_len(1e5), y = sqrt(seq_len(1e5))); big"
    t0 = time.monotonic()
    res = run(kc, code, timeout=120)
    elapsed = time.monotonic() - t0
    assert_ok(res)
    er = res.of_type("execute_result")
    assert er, res.summary()
    data = er[-1]["content"]["data"]
    html = data.get("text/html", "")
    text = data.get("text/plain", "")
    rows = len(re.findall(r"<tr\b", html))
    assert html, f"no text/html for a data.frame; mimes {sorted(data)}"
    assert rows <= 110, f"text/html has {rows} <tr> rows for a 1e5-row data.frame"
    assert len(text.encode()) < 20_000, f"text/plain is {len(text.encode())} bytes"
    total = sum(len(json.dumps(m["content"])) for m in res.outputs)
    assert total < 500_000, f"{total} bytes of output for a truncated display"
    assert elapsed < 10, f"displaying a 1e5-row data.frame took {elapsed:.1f}s"


def test_several_plots_in_one_cell(kc):
    res = run(kc, "plot(1:10); plot(10:1)", timeout=60)
    assert_ok(res)
    pngs = [m for m in res.of_type("display_data") if "image/png" in m["content"]["data"]]
    assert len(pngs) == 2, f"expected 2 image/png display_data; {res.summary()}"
    import base64
    for m in pngs:
        raw = base64.b64decode(m["content"]["data"]["image/png"])
        assert raw[:8] == b"\x89PNG\r\n\x1a\n", "image/png is not base64 PNG data"
    assert pngs[0]["content"]["data"]["image/png"] != pngs[1]["content"]["data"]["image/png"]


def test_plot_has_size_metadata(kc):
    res = run(kc, "plot(1:10)", timeout=60)
    assert_ok(res)
    pngs = [m for m in res.of_type("display_data") if "image/png" in m["content"]["data"]]
    assert pngs, res.summary()
    md = pngs[0]["content"].get("metadata", {}).get("image/png", {})
    assert md.get("width") and md.get("height"), \
        f"image/png metadata lacks width/height: {pngs[0]['content'].get('metadata')}"


def test_display_html_and_clear_output(kc):
    res = run(kc, f'{DISPLAY_PKG}::display_html("<b>hi</b>")')
    assert_ok(res)
    dd = res.of_type("display_data")
    assert dd and dd[0]["content"]["data"].get("text/html") == "<b>hi</b>", res.summary()
    res = run(kc, f'cat("a\\n"); {DISPLAY_PKG}::clear_output(); cat("b\\n")')
    assert_ok(res)
    kinds = [m["msg_type"] for m in res.outputs]
    assert "clear_output" in kinds, res.summary()
    # clear_output must be published between the two writes, not at the end
    idx = kinds.index("clear_output")
    before = "".join(m["content"]["text"] for m in res.outputs[:idx]
                     if m["msg_type"] == "stream")
    after = "".join(m["content"]["text"] for m in res.outputs[idx:]
                    if m["msg_type"] == "stream")
    assert "a" in before and "b" in after, res.summary()


# htmlwidgets and htmltools objects: text/html with their dependencies inlined (works offline), text/plain fallback.
HTML_OBJECTS = {
    "htmlwidget": ('DT::datatable(data.frame(word = c("alpha", "beta")))',
                   ['class="datatables html-widget', '"alpha"', '<script title="jquery">'],
                   "<datatables htmlwidget>"),
    "shiny.tag": ('htmltools::tags$div(class = "note", "hi")',
                  ['<div class="note">hi</div>'], '<div class="note">hi</div>'),
    "shiny.tag.list": ('htmltools::tagList(htmltools::tags$b("a"), htmltools::tags$i("b"))',
                       ["<b>a</b>", "<i>b</i>"], "<b>a</b>\n<i>b</i>"),
    "html": ('htmltools::HTML("<b>bold</b> &amp; plain")', ["<b>bold</b> &amp; plain"], "<b>bold</b> &amp; plain"),
}


def _rich_output(res):
    msgs = res.of_type("execute_result") or res.of_type("display_data")
    assert msgs, res.summary()
    return msgs[-1]["content"]["data"]


@pytest.mark.parametrize("cls", sorted(HTML_OBJECTS))
def test_html_objects_display_as_html_with_a_text_fallback(kc, cls):
    code, html_parts, text = HTML_OBJECTS[cls]
    res = run(kc, code, timeout=60)
    assert_ok(res)
    data = _rich_output(res)
    html = data.get("text/html", "")
    for part in html_parts:
        assert part in html, f"{part!r} not in the text/html of {cls} ({len(html)} bytes): {html[:300]!r}"
    if KERNEL == "ripple":
        assert data.get("text/plain") == text, data.get("text/plain")
        assert not re.search(r'(src|href)="(https?:)?//', html), "a dependency would need the network"


def test_a_widget_carries_every_dependency_inline(kc):
    res = run(kc, "DT::datatable(head(iris))", timeout=60)
    assert_ok(res)
    html = _rich_output(res)["text/html"]
    size = len(html.encode())
    print(f"DT::datatable(head(iris)): {size} bytes of text/html ({KERNEL})")
    shown = (res.of_type("execute_result") or res.of_type("display_data"))[-1]["content"]
    assert shown.get("metadata", {}).get("text/html", {}).get("isolated") is True, \
        f"a widget should ask for an iframe of its own: {shown.get('metadata')}"
    if KERNEL == "ripple":
        # In the order htmltools resolves them (jQuery before DataTables), inline: no base64, no data: URIs.
        order = [html.find(f'<script title="{title}">') for title in
                 ("htmlwidgets", "datatables-binding", "jquery", "dt-core", "crosstalk")]
        assert all(i >= 0 for i in order) and order == sorted(order), order
        assert '<style data-dependency="dt-core">' in html and "HTMLWidgets.staticRender()" in html
        assert 300_000 < size < 400_000, size
    assert not re.search(r'(src|href)="(https?:)?//', html), "a dependency would need the network"


def test_tags_carry_their_html_dependencies_inline(kc, tmp_path):
    (tmp_path / "demo.js").write_text("window.rippleDemo = 42;\n")
    code = (f'htmltools::attachDependencies(htmltools::tags$p("with a dependency"), '
            f'htmltools::htmlDependency("demo", "1.0", src = c(file = "{tmp_path}"), script = "demo.js"))')
    res = run(kc, code, timeout=60)
    assert_ok(res)
    html = _rich_output(res)["text/html"]
    assert '<script title="demo">window.rippleDemo = 42;' in html, html[:500]
    assert "<p>with a dependency</p>" in html


def test_printing_widgets_and_tags_never_opens_a_browser_or_viewer(fresh, tmp_path):
    _km, kc = fresh
    marker = tmp_path / "opened.txt"
    res = run(kc, f'options(browser = function(url, ...) cat("browser", url, "\\n", file = "{marker}", append = TRUE),\n'
                  f'        viewer = function(url, ...) cat("viewer", url, "\\n", file = "{marker}", append = TRUE))')
    assert_ok(res)
    cells = ['print(DT::datatable(head(cars)))',
             'htmltools::browsable(htmltools::tags$p("browsable"))',
             'print(htmltools::browsable(htmltools::tags$p("printed browsable")))',
             'print(htmltools::browsable(htmltools::tagList(htmltools::tags$p("a list"))))',
             'print(htmltools::browsable(htmltools::HTML("<p>html</p>")))',
             'w <- DT::datatable(head(cars)); for (i in 1:2) print(w)',
             'local({ options(viewer = NULL); print(DT::datatable(head(cars))) })']
    for code in cells:
        res = run(kc, code, timeout=60)
        assert_ok(res)
        shown = [m for m in res.outputs if m["msg_type"] in ("display_data", "execute_result")]
        assert shown and all("text/html" in m["content"]["data"] for m in shown), f"{code}: {res.summary()}"
        if code.startswith("w <-"):
            assert len(shown) == 2, res.summary()
    assert not marker.exists(), f"a browser or viewer was called: {marker.read_text()}"


def test_a_widget_over_the_size_limit_is_a_one_line_note(fresh):
    _km, kc = fresh
    # DT::datatable of 100k rows: 2.5 MB of data (6 s to render in chromium here), over the 1.5 MB default.
    code = "DT::datatable(data.frame(id = seq_len(1e5), x = round(sin(seq_len(1e5)), 4), g = rep(letters, length.out = 1e5)))"
    t0 = time.monotonic()
    res = run(kc, code, timeout=120)
    elapsed = time.monotonic() - t0
    assert_ok(res)
    data = _rich_output(res)
    assert "text/html" not in data, sorted(data)
    note = data["text/plain"]
    assert "\n" not in note and re.search(
        r"^<datatables htmlwidget>: 2\.\d MB of HTML, over ripple's display limit of 1\.5 MB \(options\(ripple\.html\.max_bytes\)\)",
        note), note
    total = sum(len(json.dumps(m["content"])) for m in res.outputs)
    assert total < 10_000, f"{total} bytes of output for a capped widget"
    print(f"100k-row DT::datatable: capped in {elapsed:.1f}s, {total} bytes of output")
    # The limit is an option; tags are capped the same way.
    res = run(kc, 'options(ripple.html.max_bytes = 1e4); htmltools::tags$pre(strrep("x", 2e4))')
    assert_ok(res)
    data = _rich_output(res)
    assert "text/html" not in data and data["text/plain"].startswith("<shiny.tag>: 20 KB of HTML, over ripple's display limit of 10 KB"), data


def test_help_pager_payload(kc):
    res = run(kc, "?cat")
    assert_ok(res)
    payload = res.reply["content"].get("payload", [])
    assert len(payload) == 1, payload
    p = payload[0]
    assert p["source"] == "page"
    assert "text/plain" in p["data"] and "text/html" in p["data"], sorted(p["data"])
    text = p["data"]["text/plain"]
    assert "\b" not in text, "text/plain help has backspace overstrike (shows as garbage)"
    assert "Concatenate and Print" in text, text[:300]
    assert p.get("start", 0) == 0


# ---------------------------------------------------------------------------------------
# errors

def test_error_exactly_one_message(kc):
    res = run(kc, 'f <- function() stop("boom"); f()')
    assert res.status == "error", res.summary()
    errors = res.of_type("error")
    assert len(errors) == 1, f"expected exactly one error message; {res.summary()}"
    c = errors[0]["content"]
    assert isinstance(c["ename"], str) and c["ename"]
    assert "boom" in c["evalue"], c
    assert isinstance(c["traceback"], list) and all(isinstance(x, str) for x in c["traceback"])
    # Classic Notebook shows only the traceback: the message must be visible there.
    assert "boom" in "\n".join(c["traceback"]), c["traceback"]
    rc = res.reply["content"]
    assert "boom" in rc.get("evalue", ""), rc


def test_error_stops_cell_after_partial_output(kc):
    res = run(kc, 'cat("before\\n"); stop("boom"); cat("after\\n")')
    assert res.status == "error"
    assert "before" in res.stream_text()
    assert "after" not in res.stream_text(), res.summary()
    assert len(res.of_type("error")) == 1, res.summary()


def test_parse_error_one_message(kc):
    res = run(kc, "1 +* 2")
    assert res.status == "error", res.summary()
    assert len(res.of_type("error")) == 1, res.summary()
    assert not res.of_type("execute_result")


def test_error_in_apply_one_message(kc):
    res = run(kc, 'sapply(1:3, function(i) if (i == 2) stop("boom") else i)')
    assert res.status == "error"
    assert len(res.of_type("error")) == 1, res.summary()


def _cell_shows(res, cell_id):
    """A tracked cell's output: the latest state of its display (display_id ripple-<cellId>)."""
    shown = [m["content"]["data"]["text/plain"] for m in res.iopub
             if m["msg_type"] in ("display_data", "update_display_data")
             and (m["content"].get("transient") or {}).get("display_id") == "ripple-" + cell_id]
    assert shown, res.summary()
    return shown[-1]


def test_request_metadata_capture(kc):
    md = {"cellId": "abc", "deletedCells": []}
    res = run(kc, "cat(ripple::request_metadata())", metadata=md)
    assert_ok(res)
    got = json.loads(_cell_shows(res, "abc"))
    assert got.get("cellId") == "abc", got
    assert got.get("deletedCells") == [], got
    md2 = {"cellId": "def", "deletedCells": ["abc"]}
    res = run(kc, "cat(ripple::request_metadata())", metadata=md2)
    assert_ok(res)
    got = json.loads(_cell_shows(res, "def"))
    assert got.get("cellId") == "def" and got.get("deletedCells") == ["abc"], got


# ---------------------------------------------------------------------------------------
# completion / inspection

def _complete(kc, code, cursor=None):
    from kernel_env import shell_request
    cursor = len(code) if cursor is None else cursor
    reply = shell_request(kc, "complete_request", {"code": code, "cursor_pos": cursor})
    c = reply["content"]
    assert c["status"] == "ok", c
    return c


@pytest.mark.parametrize("code,want", [("prin", "print"), ("mtcars$", "mtcars$mpg"),
                                       ("x <- mean(mtcars$c", "x <- mean(mtcars$cyl")])
def test_completion_includes_and_replaces_correctly(kc, code, want):
    c = _complete(kc, code)
    start, end = c["cursor_start"], c["cursor_end"]
    assert end == len(code), c
    # Front ends replace code[start:end] with the match: it must produce the expected text.
    completed = [code[:start] + m + code[end:] for m in c["matches"]]
    assert want in completed, f"{want!r} not among completions {completed[:20]}"


def test_inspect_found_and_not_found(kc):
    from kernel_env import shell_request
    r = shell_request(kc, "inspect_request",
                      {"code": "print", "cursor_pos": 5, "detail_level": 0})["content"]
    assert r["status"] == "ok" and r["found"] is True, r
    assert "text/plain" in r["data"] and "print" in r["data"]["text/plain"], sorted(r["data"])
    assert "text/html" in r["data"], sorted(r["data"])
    r = shell_request(kc, "inspect_request",
                      {"code": "zzz_no_such_thing_zzz", "cursor_pos": 5,
                       "detail_level": 0})["content"]
    assert r["status"] == "ok" and r["found"] is False, r


def test_history_output_pairs(kc):
    from kernel_env import shell_request
    res = run(kc, "hist_probe <- 21 * 2; hist_probe")
    assert_ok(res)
    r = shell_request(kc, "history_request",
                      {"output": True, "raw": True, "hist_access_type": "tail", "n": 1})
    hist = r["content"]["history"]
    assert len(hist) == 1, hist
    session, line, (inp, out) = hist[0]
    assert inp == "hist_probe <- 21 * 2; hist_probe"
    assert out is not None and "42" in str(out), hist[0]
    assert line == res.reply["content"]["execution_count"], (hist[0], res.reply["content"])


# ---------------------------------------------------------------------------------------
# stdin

def test_readline_input_request(fresh):
    _km, kc = fresh
    prompts = []

    def answer(prompt, password):
        prompts.append((prompt, password))
        return "Alice"

    res = run(kc, 'name <- readline("name? "); cat("hello", name, "\\n")', allow_stdin=True,
              on_input=answer, timeout=20)
    assert_ok(res)
    assert prompts == [("name? ", False)], prompts
    assert "hello Alice" in res.stream_text(), res.summary()


def test_readlines_stdin_input_request(fresh):
    _km, kc = fresh
    res = run(kc, 'x <- readLines(stdin(), n = 1); cat("got", x, "\\n")', allow_stdin=True,
              on_input=lambda p, pw: "line one", timeout=20)
    assert_ok(res)
    assert len(res.stdin) == 1, res.stdin
    assert "got line one" in res.stream_text(), res.summary()


def test_readline_without_stdin_does_not_hang(fresh):
    _km, kc = fresh
    # nbconvert/papermill execute with allow_stdin=False: the cell must finish, not wait.
    try:
        res = run(kc, 'x <- readline("name? ")', allow_stdin=False, timeout=15)
    except ExecuteTimeout as e:
        pytest.fail(f"readline() with allow_stdin=False hung: {e}")
    assert not res.stdin, "input_request sent although the request said allow_stdin=False"
    assert_kernel_works(kc)


# ---------------------------------------------------------------------------------------
# interrupt

@pytest.mark.parametrize("code", ["while (TRUE) {}", "Sys.sleep(60)"])
def test_interrupt_by_signal(fresh, code):
    km, kc = fresh
    msg_id = send_execute(kc, code)
    wait_busy(kc, msg_id)
    time.sleep(0.5)
    t0 = time.monotonic()
    km.interrupt_kernel()
    try:
        res = collect(kc, msg_id, timeout=10, code=code)
    except ExecuteTimeout as e:
        pytest.fail(f"SIGINT did not stop {code!r} within 10s: {e}")
    dt = time.monotonic() - t0
    assert dt < 1.0, f"SIGINT stopped {code!r} only after {dt:.2f}s"
    _check_interrupted_reply(res)
    assert km.is_alive()
    assert_kernel_works(kc)


def test_interrupt_by_message(fresh):
    km, kc = fresh
    code = "while (TRUE) {}"
    msg_id = send_execute(kc, code)
    wait_busy(kc, msg_id)
    time.sleep(0.5)
    t0 = time.monotonic()
    imsg = kc.session.msg("interrupt_request", {})
    kc.control_channel.send(imsg)
    try:
        ireply = wait_reply(kc.get_control_msg, imsg["header"]["msg_id"], timeout=5)
    except TimeoutError:
        pytest.fail("no interrupt_reply on control within 5s")
    assert ireply["msg_type"] == "interrupt_reply"
    try:
        res = collect(kc, msg_id, timeout=10, code=code)
    except ExecuteTimeout as e:
        pytest.fail(f"interrupt_request did not stop the loop within 10s: {e}")
    dt = time.monotonic() - t0
    assert dt < 1.0, f"interrupt_request stopped the loop only after {dt:.2f}s"
    _check_interrupted_reply(res)
    assert_kernel_works(kc)


def _check_interrupted_reply(res):
    c = res.reply["content"]
    # The front end must not believe the cell completed (queued cells must not run on).
    assert c["status"] != "ok", f"interrupted cell reported {c}"
    if c["status"] != "error":
        return
    said = " ".join([c.get("ename", ""), c.get("evalue", "")] + c.get("traceback", []))
    for m in res.of_type("error"):
        said += " " + m["content"].get("ename", "") + " " + m["content"].get("evalue", "")
    assert "interrupt" in said.lower(), f"error does not say it was interrupted: {c}"
    assert len(res.of_type("error")) <= 1, res.summary()


def test_sigint_while_idle_keeps_kernel_alive(fresh):
    km, kc = fresh
    km.interrupt_kernel()
    time.sleep(1.0)
    assert km.is_alive(), "SIGINT to an idle kernel killed it"
    assert_kernel_works(kc)
    # and a cell after it is not spuriously interrupted
    res = run(kc, "Sys.sleep(0.3); 3 * 3")
    assert_ok(res)
    assert result_text(res) == "[1] 9"


# ---------------------------------------------------------------------------------------
# robustness

def test_deep_recursion_is_an_error(fresh):
    km, kc = fresh
    res = run(kc, "f <- function() f(); f()", timeout=60)
    assert res.status == "error", res.summary()
    assert len(res.of_type("error")) == 1, res.summary()
    assert km.is_alive()
    assert_kernel_works(kc)


def test_c_stack_overflow_is_an_error(fresh):
    # With a high expressions limit the C stack runs out first: R must report it, not crash.
    km, kc = fresh
    code = "options(expressions = 500000); g <- function(n) g(n + 1); g(0)"
    res = run(kc, code, timeout=120)
    assert res.status == "error", res.summary()
    assert len(res.of_type("error")) == 1, res.summary()
    assert km.is_alive(), "kernel crashed on C stack overflow"
    run(kc, "options(expressions = 5000)")
    assert_kernel_works(kc)


def test_bad_signature_is_dropped(fresh):
    km, kc = fresh
    with RawClient(km.get_connection_info()) as raw:
        bad = Session(key=b"definitely-not-the-key", signature_scheme="hmac-sha256",
                      session=raw.session.session, username=raw.session.username)
        frames = raw.signed_frames("kernel_info_request", b"{}", session=bad)
        raw.send_frames(raw.shell, frames)
        deadline = time.monotonic() + 2.0
        replies = []
        while time.monotonic() < deadline:
            for s, m, _t in raw.poll(deadline - time.monotonic()):
                if s is raw.shell:
                    replies.append(m)
        assert not replies, f"kernel answered a badly signed message: {replies}"
        assert km.is_alive(), "kernel died on a badly signed message"
        # a correctly signed request on the same socket works
        msg_id = raw.send(raw.shell, "kernel_info_request")
        got = raw.wait_reply(raw.shell, msg_id, timeout=10)
        assert got is not None, "no kernel_info_reply after the bad message"
        assert got[0]["msg_type"] == "kernel_info_reply"
    assert km.is_alive()
    assert_kernel_works(kc)


@pytest.mark.parametrize("msg_type,content", [
    ("execute_request", b"{not json"),
    ("execute_request", b"[1, 2, 3]"),
    ("execute_request", b'{"code": 42, "silent": "no"}'),
    ("complete_request", b'{"code": null}'),
    ("inspect_request", b'{"cursor_pos": "x"}'),
    ("history_request", b'{"hist_access_type": "range", "start": "a"}'),
    ("no_such_request", b"{}"),
])
def test_malformed_content_does_not_crash(fresh, msg_type, content):
    km, kc = fresh
    with RawClient(km.get_connection_info()) as raw:
        raw.send_frames(raw.shell, raw.signed_frames(msg_type, content))
        time.sleep(1.0)
        raw.poll(0.1)
        assert km.is_alive(), f"kernel died on malformed {msg_type} content {content!r}"
        msg_id = raw.send(raw.shell, "kernel_info_request")
        got = raw.wait_reply(raw.shell, msg_id, timeout=10)
        assert got is not None, f"kernel stopped answering after malformed {msg_type}"
    assert_kernel_works(kc)


@pytest.mark.skipif(KERNEL != "ripple", reason="SPEC section 7's error replies are ripple's; IRkernel drops or dies")
@pytest.mark.parametrize("msg_type,content,reply_type", [
    ("execute_request", {"code": 123}, "execute_reply"),
    ("execute_request", {"code": "side_effect <- 1", "user_expressions": {"a": 1}}, "execute_reply"),
    ("complete_request", {"code": "pri", "cursor_pos": -5}, "complete_reply"),
    ("complete_request", {"code": "pri", "cursor_pos": 99}, "complete_reply"),
    ("inspect_request", {"code": "print", "cursor_pos": "2"}, "inspect_reply"),
    ("history_request", {"hist_access_type": "sideways"}, "history_reply"),
    ("is_complete_request", {"code": None}, "is_complete_reply"),
    ("comm_info_request", {"target_name": 3}, "comm_info_reply"),
])
def test_signed_malformed_request_gets_error_reply(fresh, msg_type, content, reply_type):
    km, kc = fresh
    with RawClient(km.get_connection_info()) as raw:
        frames = raw.signed_frames(msg_type, json.dumps(content).encode())
        msg_id = json.loads(frames[2])["msg_id"]
        raw.send_frames(raw.shell, frames)
        got = raw.wait_reply(raw.shell, msg_id, timeout=10)
        assert got is not None, f"no reply to a signed {msg_type} with malformed content"
        reply = got[0]
        assert reply["msg_type"] == reply_type, reply
        assert reply["content"]["status"] == "error", reply["content"]
        assert "malformed request" in reply["content"]["evalue"], reply["content"]
    res = run(kc, 'exists("side_effect")')
    assert result_text(res) == "[1] FALSE", "a malformed request changed the session"
    assert km.is_alive()


def test_null_in_an_optional_field_counts_as_absent(fresh):
    # jupyter_client and front ends send `"stop": null` and the like; that is not malformed.
    km, _kc = fresh
    with RawClient(km.get_connection_info()) as raw:
        content = {"hist_access_type": "tail", "n": 3, "session": None, "start": None, "output": None}
        frames = raw.signed_frames("history_request", json.dumps(content).encode())
        msg_id = json.loads(frames[2])["msg_id"]
        raw.send_frames(raw.shell, frames)
        got = raw.wait_reply(raw.shell, msg_id, timeout=10)
        assert got is not None and got[0]["content"]["status"] == "ok", got


@pytest.mark.skipif(KERNEL != "ripple", reason="replay protection is ripple's (SPEC section 7)")
def test_replayed_request_runs_once(fresh):
    km, kc = fresh
    assert_ok(run(kc, "replays <- 0"))
    with RawClient(km.get_connection_info()) as raw:
        content = json.dumps({"code": "replays <- replays + 1", "silent": False, "store_history": False,
                              "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}).encode()
        frames = raw.signed_frames("execute_request", content)
        msg_id = json.loads(frames[2])["msg_id"]
        for _ in range(3):
            raw.send_frames(raw.shell, frames)
        assert raw.wait_reply(raw.shell, msg_id, timeout=10) is not None
        time.sleep(1.0)
        raw.poll(0.1)
    res = run(kc, "replays")
    assert result_text(res) == "[1] 1", f"a replayed execute_request ran again: {res.summary()}"


def test_q_does_not_kill_silently(fresh):
    km, kc = fresh
    try:
        res = run(kc, "q()", timeout=15)
        partial = False
    except ExecuteTimeout as e:
        res, partial = e.partial, True
    time.sleep(0.5)
    if km.is_alive():
        assert not partial, f"kernel alive but q() never finished: {res.summary()}"
        assert_kernel_works(kc)
    else:
        told = "".join(m["content"].get("text", "") + m["content"].get("evalue", "")
                       for m in res.outputs if m["msg_type"] in ("stream", "error"))
        assert told.strip(), ("q() killed the kernel without telling the user anything; "
                              f"saw {res.summary()}")


def test_restart_kernel(fresh):
    km, kc = fresh
    res = run(kc, "x_before_restart <- 42")
    assert_ok(res)
    pid1 = kernel_pid(km)
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=60)
    _drain(kc)
    pid2 = kernel_pid(km)
    assert pid1 != pid2, "restart did not start a new process"
    res = run(kc, 'exists("x_before_restart")')
    assert_ok(res)
    assert result_text(res) == "[1] FALSE", res.summary()
    assert_kernel_works(kc)


def test_shutdown_request_exits(fresh):
    km, kc = fresh
    msg = kc.session.msg("shutdown_request", {"restart": False})
    kc.control_channel.send(msg)
    reply = wait_reply(kc.get_control_msg, msg["header"]["msg_id"], timeout=10)
    assert reply["msg_type"] == "shutdown_reply"
    assert reply["content"].get("restart") is False
    deadline = time.monotonic() + 10
    while km.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not km.is_alive(), "kernel still running 10s after shutdown_request"


def test_rprofile_is_sourced(kenv, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".Rprofile").write_text('options(ripple.test.profile = "loaded")\n')
    env = {"HOME": str(home), "R_PROFILE_USER": None}
    km, kc = _start(kenv, env=env)
    try:
        res = run(kc, 'cat(getOption("ripple.test.profile", "absent"))')
        assert_ok(res)
        assert res.stream_text() == "loaded", "~/.Rprofile was not sourced at startup"
    finally:
        shutdown(km, kc)
