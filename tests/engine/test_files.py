# test_files.py: files a cell opens while it runs, whatever names them, through the real kernel: an edited writer
# reruns its readers (reactive) or runs before them (lazy); a new kernel sharing the cache reads files as they are
# now; what cannot be made exact (a socket, a program) gets one notice, is never served from the cache, and why says so.
import socket
import sys
import threading
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "kernel"))

from driver import KernelDriver  # noqa: E402
from kernel_env import running_kernel  # noqa: E402
from fresh_run import assert_fresh, ripple_notebook, run_cells  # noqa: E402

# Writer and reader pairs through every common door to a file; {n} is what an edit changes, {k} the pair's number.
PAIRS = [
    ("write.csv(data.frame(a = 1:{n}), p{k}, row.names = FALSE)", "sum(read.csv(p{k})$a)"),
    ("saveRDS(1:{n}, p{k})", "sum(readRDS(p{k}))"),
    ("v{k} <- 1:{n}; save(v{k}, file = p{k})", "e{k} <- new.env(); load(p{k}, envir = e{k}); sum(e{k}$v{k})"),
    ("con{k} <- file(p{k}, 'w'); writeLines(as.character(1:{n}), con{k}); close(con{k})",
     "sum(as.numeric(readLines(p{k})))"),
    ("data.table::fwrite(data.frame(a = 1:{n}), p{k})", "sum(data.table::fread(p{k})$a)"),
    ("readr::write_csv(data.frame(a = 1:{n}), p{k})",
     "readr::read_csv(p{k}, show_col_types = FALSE) |> dplyr::summarise(s = sum(a)) |> dplyr::pull(s)"),
    ("writeLines(sprintf('s{k} <- %d', sum(1:{n})), p{k})", "source(p{k}); s{k}"),
]


def pair_cells(n_for):
    """Cells for every pair: a computed path (under tempdir(), so the name is never a literal), the writer, the
    reader. n_for(k) is the writer's n."""
    cells = []
    for k, (writer, reader) in enumerate(PAIRS):
        cells.append((f"p{k}", f'p{k} <- file.path(tempdir(), paste0("ripple-files-", {k}, ".dat"))'))
        cells.append((f"w{k}", writer.format(n=n_for(k), k=k)))
        cells.append((f"r{k}", reader.format(k=k)))
    return cells


def expected_sum(n):
    return f"[1] {n * (n + 1) // 2}"


@pytest.mark.parametrize("cache", ["off", "shared"])
def test_an_edited_writer_reruns_its_readers(tmp_path, monkeypatch, cache):
    with ripple_notebook(monkeypatch, tmp_path, cache, timeout=120) as nb:
        cells = pair_cells(lambda k: 3)
        run_cells(nb, cells)
        for k in range(len(PAIRS)):
            assert nb.shown[f"r{k}"].strip() == expected_sum(3), (k, nb.shown[f"r{k}"])
        # Each writer edited: the reader below reruns with the new content, though only a variable names the file.
        for k, (writer, _) in enumerate(PAIRS):
            res = nb.execute_cell(f"w{k}", writer.format(n=4 + k, k=k))
            assert res.status == "ok", res.summary()
            assert nb.shown[f"r{k}"].strip() == expected_sum(4 + k), (PAIRS[k], nb.shown[f"r{k}"])
        assert_fresh(nb, pair_cells(lambda k: 4 + k))


def test_lazy_mode_runs_an_edited_writer_before_its_reader(monkeypatch):
    monkeypatch.setenv("RIPPLE_CACHE", "off")
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=120)
        assert nb.execute("ripple::mode('lazy')").status == "ok"
        cells = pair_cells(lambda k: 3)[:6]
        run_cells(nb, cells)
        # The writers are edited but not run; running a reader runs its writer first (the file is the edge).
        edited = pair_cells(lambda k: 5)[:6]
        nb.send_notebook(edited)
        for k in range(2):
            res = nb.execute_cell(f"r{k}", PAIRS[k][1].format(k=k))
            assert res.status == "ok", res.summary()
            assert nb.shown[f"r{k}"].strip() == expected_sum(5), (k, nb.shown[f"r{k}"])


def test_a_new_kernel_reads_files_as_they_are_now(tmp_path, monkeypatch):
    monkeypatch.setenv("RIPPLE_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "data.csv"
    out = tmp_path / "out.rds"
    cells = [("path", f'd <- "{data}"; o <- "{out}"'),
             ("reader", "total <- sum(read.csv(d)$a); total"),
             ("writer", "saveRDS(total * 2, o)"),
             ("back", "readRDS(o)")]
    data.write_text("a\n1\n2\n3\n")
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=90)
        run_cells(nb, cells)
        assert nb.shown["back"].strip() == "[1] 12", nb.shown
    # Another kernel, the same cache: the data changed on disk and the writer's output is gone.
    data.write_text("a\n10\n20\n")
    out.unlink()
    with running_kernel("ripple") as (km, kc):
        nb = KernelDriver(kc, km, timeout=90)
        run_cells(nb, cells)
        assert nb.shown["reader"].strip() == "[1] 30", nb.shown
        assert nb.shown["back"].strip() == "[1] 60", nb.shown
        assert_fresh(nb, cells)


class CountingServer:
    """A TCP server on 127.0.0.1 that answers each connection with how many it has had: a remote service whose
    answer a cache must never keep."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.count += 1
            with conn:
                conn.sendall(f"{self.count}\n".encode())

    def close(self):
        self.stopping = True
        self.thread.join(timeout=5)
        self.sock.close()


def test_what_cannot_be_exact_is_named_never_served_and_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("RIPPLE_CACHE_DIR", str(tmp_path / "cache"))
    server = CountingServer()
    try:
        cells = [("ask", f'con <- socketConnection("127.0.0.1", {server.port}, blocking = TRUE, timeout = 10); '
                         'answer <- readLines(con, 1); close(con); answer'),
                 ("echo", 'processx::run("echo", c("from", "a", "program"))$stdout')]
        for session in (1, 2):
            with running_kernel("ripple") as (km, kc):
                nb = KernelDriver(kc, km, timeout=90)
                ask = nb.execute_cell("ask", cells[0][1])
                assert ask.status == "ok", ask.summary()
                # The second kernel asks the server again: the first session's answer is never served.
                assert nb.shown["ask"].strip() == f'[1] "{session}"', nb.shown
                notice = ask.stream_text("stdout") + ask.stream_text("stderr")
                assert f"a socket to 127.0.0.1:{server.port}" in notice, notice
                assert "never served from the cache" in notice, notice
                echo = nb.execute_cell("echo", cells[1][1])
                assert echo.status == "ok", echo.summary()
                assert "the program `echo from a program`" in echo.stream_text("stdout") + echo.stream_text("stderr")
                why = nb.execute('ripple::why("ask")')
                assert f"reaches outside R (a socket to 127.0.0.1:{server.port})" in why.stream_text("stdout"), \
                    why.summary()
        assert server.count == 2
    finally:
        server.close()
