"""Shared helpers for ripple's Jupyter protocol tests and benchmarks.

Nothing here touches the user's or the system's Jupyter directories: kernelspecs are
installed into a temporary prefix, JUPYTER_PATH points at it, and connection files live in
a temporary runtime directory.

Environment:
  RIPPLE_BUILD_DIR     build tree holding bin/ripple-kernel (default: <repo>/build)
  RIPPLE_TEST_KERNEL   kernel the tests talk to: "ripple" (default) or "ir" (IRkernel),
                       to debug the harness against IRkernel where behaviour overlaps.

Always run with Debian's /usr/bin/python3 (it has jupyter_client, pyzmq, pytest).
"""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from queue import Empty

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

REPO_ROOT = Path(__file__).resolve().parents[2]

IRKERNEL_ARGV = ["R", "--slave", "-e", "IRkernel::main()", "--args", "{connection_file}"]


def build_dir() -> Path:
    env = os.environ.get("RIPPLE_BUILD_DIR")
    return Path(env).resolve() if env else REPO_ROOT / "build"


def ripple_binary() -> Path:
    return build_dir() / "bin" / "ripple-kernel"


def kernel_under_test() -> str:
    """Name of the kernel under test: 'ripple' unless RIPPLE_TEST_KERNEL says otherwise."""
    return os.environ.get("RIPPLE_TEST_KERNEL", "ripple")


def install_ripple(prefix: Path) -> Path:
    """Run `ripple-kernel install --prefix PREFIX`; return the kernelspec directory."""
    exe = ripple_binary()
    if not exe.exists():
        raise FileNotFoundError(f"{exe} does not exist: build ripple first (scripts/build.sh)")
    subprocess.run([str(exe), "install", "--prefix", str(prefix)], check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    spec_dir = Path(prefix) / "share" / "jupyter" / "kernels" / "ripple"
    if not (spec_dir / "kernel.json").exists():
        raise FileNotFoundError(f"ripple-kernel install did not write {spec_dir}/kernel.json")
    return spec_dir


def install_irkernel(prefix: Path, name: str = "ir") -> Path:
    """Write IRkernel's kernelspec (Debian's r-cran-irkernel) into PREFIX by hand."""
    spec_dir = Path(prefix) / "share" / "jupyter" / "kernels" / name
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": IRKERNEL_ARGV, "display_name": "R (IRkernel)", "language": "R",
            "interrupt_mode": "signal"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


class KernelEnv:
    """A temporary Jupyter prefix with the requested kernelspecs installed.

    Use as a context manager; while active, os.environ["JUPYTER_PATH"] points at
    PREFIX/share/jupyter (first in Jupyter's search order), and kernels started through
    `start()` are found only in that prefix.
    """

    def __init__(self, kernels=None):
        self.kernels = list(kernels) if kernels else [kernel_under_test()]
        self.tmp = None
        self._saved = {}

    def __enter__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="ripple-kenv-"))
        self.prefix = self.tmp / "prefix"
        self.runtime = self.tmp / "runtime"
        self.runtime.mkdir(parents=True)
        for name in self.kernels:
            if name == "ripple":
                install_ripple(self.prefix)
            elif name == "ir":
                install_irkernel(self.prefix, "ir")
            else:
                raise ValueError(f"unknown kernel {name!r} (expected 'ripple' or 'ir')")
        self.jupyter_path = self.prefix / "share" / "jupyter"
        # ripple's persistent cache: a fresh one per environment unless the caller shares one on purpose.
        cache_dir = os.environ.get("RIPPLE_CACHE_DIR") or str(self.tmp / "cache")
        # Its history, likewise: kernels of other tests or benchmarks running at the same time must not interleave
        # their lines with this environment's (jupyter_kernel_test's history checks read the tail).
        history_file = os.environ.get("RIPPLE_HISTORY_FILE") or str(self.tmp / "history.sqlite")
        for var, value in (("JUPYTER_PATH", str(self.jupyter_path)),
                           ("JUPYTER_RUNTIME_DIR", str(self.runtime)),
                           ("RIPPLE_CACHE_DIR", cache_dir),
                           ("RIPPLE_HISTORY_FILE", history_file)):
            self._saved[var] = os.environ.get(var)
            os.environ[var] = value
        return self

    def __exit__(self, *exc):
        for var, value in self._saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    def kernel_spec_manager(self) -> KernelSpecManager:
        return KernelSpecManager(kernel_dirs=[str(self.jupyter_path / "kernels")])

    def kernel_manager(self, name=None) -> KernelManager:
        name = name or self.kernels[0]
        conn = self.runtime / f"kernel-{name}-{os.getpid()}-{time.monotonic_ns()}.json"
        return KernelManager(kernel_name=name, kernel_spec_manager=self.kernel_spec_manager(),
                             connection_file=str(conn))

    @contextlib.contextmanager
    def start(self, name=None, timeout=60, env=None):
        """Start a kernel, yield (km, kc) once it answers kernel_info, shut it down after."""
        km = self.kernel_manager(name)
        kwargs = {}
        if env is not None:
            full = dict(os.environ)
            full.update(env)
            kwargs["env"] = full
        km.start_kernel(**kwargs)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=timeout)
            drain(kc)
            yield km, kc
        finally:
            shutdown(km, kc)


def shutdown(km, kc, timeout=10):
    """Stop channels and the kernel; kill it if it does not stop by itself."""
    with contextlib.suppress(Exception):
        kc.stop_channels()
    try:
        if km.has_kernel:
            km.shutdown_kernel(now=False, restart=False)
    except Exception:
        with contextlib.suppress(Exception):
            km.shutdown_kernel(now=True)
    with contextlib.suppress(Exception):
        km.cleanup_resources()


@contextlib.contextmanager
def running_kernel(name=None, timeout=60, env=None):
    """One-shot: temporary prefix + started kernel. Yields (km, kc)."""
    name = name or kernel_under_test()
    with KernelEnv([name]) as kenv:
        with kenv.start(name, timeout=timeout, env=env) as (km, kc):
            yield km, kc


def kernel_pid(km):
    """PID of the kernel process started by a KernelManager (jupyter_client 7)."""
    prov = getattr(km, "provisioner", None)
    proc = getattr(prov, "process", None) if prov is not None else None
    if proc is None:
        proc = getattr(km, "kernel", None)
    return proc.pid if proc is not None else None


def drain(kc, timeout=0.2):
    """Discard whatever is pending on shell, iopub and stdin."""
    for get in (kc.get_shell_msg, kc.get_iopub_msg, kc.get_stdin_msg):
        while True:
            try:
                get(timeout=timeout)
            except Empty:
                break


class CellResult:
    """What one execute_request produced: the reply and the iopub messages of that request."""

    def __init__(self, msg_id, reply, iopub, stdin, times):
        self.msg_id = msg_id
        self.reply = reply
        self.iopub = iopub          # every iopub message with this parent, in arrival order
        self.stdin = stdin          # stdin messages (input_request) with this parent
        self.times = times          # arrival time (time.monotonic()) per iopub message

    @property
    def status(self):
        return self.reply["content"]["status"]

    @property
    def outputs(self):
        """iopub messages other than status and execute_input."""
        return [m for m in self.iopub if m["msg_type"] not in ("status", "execute_input")]

    def of_type(self, msg_type):
        return [m for m in self.outputs if m["msg_type"] == msg_type]

    def stream_text(self, name="stdout"):
        return "".join(m["content"]["text"] for m in self.of_type("stream")
                       if m["content"]["name"] == name)

    def summary(self):
        parts = []
        for m in self.outputs:
            c = m["content"]
            if m["msg_type"] == "stream":
                parts.append(f"stream/{c['name']}: {c['text'][:200]!r}")
            elif m["msg_type"] in ("execute_result", "display_data"):
                parts.append(f"{m['msg_type']}: {sorted(c.get('data', {}))} "
                             f"{str(c.get('data', {}).get('text/plain', ''))[:120]!r}")
            elif m["msg_type"] == "error":
                parts.append(f"error: {c.get('ename')!r}: {c.get('evalue')!r}")
            else:
                parts.append(m["msg_type"])
        reply = self.reply["content"] if self.reply else None
        return f"reply={reply!r}; outputs={parts}"


def send_execute(kc, code, allow_stdin=False, metadata=None, silent=False,
                 store_history=True):
    """Send an execute_request (optionally with request metadata); return its msg_id."""
    content = dict(code=code, silent=silent, store_history=store_history,
                   user_expressions={}, allow_stdin=allow_stdin, stop_on_error=True)
    msg = kc.session.msg("execute_request", content, metadata=metadata or {})
    kc.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def execute(kc, code, timeout=30, allow_stdin=False, metadata=None, on_input=None,
            silent=False, store_history=True):
    """Send an execute_request and collect everything it produces until reply + idle.

    on_input(prompt, password) -> str answers input_requests (kc.input).
    Raises ExecuteTimeout (with .partial: what was seen so far) if reply and idle don't
    both arrive within timeout.
    """
    msg_id = send_execute(kc, code, allow_stdin=allow_stdin, metadata=metadata,
                          silent=silent, store_history=store_history)
    return collect(kc, msg_id, timeout=timeout, on_input=on_input, code=code)


class ExecuteTimeout(TimeoutError):
    def __init__(self, text, partial):
        super().__init__(text)
        self.partial = partial


def collect(kc, msg_id, timeout=30, on_input=None, code=""):
    deadline = time.monotonic() + timeout
    reply, iopub, times, stdin = None, [], [], []
    idle = False
    while not (reply is not None and idle):
        if time.monotonic() > deadline:
            partial = CellResult(msg_id, reply, iopub, stdin, times)
            raise ExecuteTimeout(f"no reply+idle within {timeout}s for {code!r}; "
                                 f"reply={reply and reply['content']}; "
                                 f"iopub={[m['msg_type'] for m in iopub]}", partial)
        got = False
        try:
            m = kc.get_iopub_msg(timeout=0.02)
            got = True
            if m["parent_header"].get("msg_id") == msg_id:
                iopub.append(m)
                times.append(time.monotonic())
                if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    idle = True
        except Empty:
            pass
        if reply is None:
            try:
                m = kc.get_shell_msg(timeout=0.001 if got else 0.02)
                if m["parent_header"].get("msg_id") == msg_id:
                    reply = m
            except Empty:
                pass
        try:
            m = kc.get_stdin_msg(timeout=0.001)
            if m["parent_header"].get("msg_id") == msg_id:
                stdin.append(m)
                if m["msg_type"] == "input_request" and on_input is not None:
                    kc.input(on_input(m["content"].get("prompt", ""),
                                      m["content"].get("password", False)))
        except Empty:
            pass
    return CellResult(msg_id, reply, iopub, stdin, times)


def shell_request(kc, msg_type, content, timeout=15):
    """Send a shell request, return its reply (skipping unrelated shell messages)."""
    msg = kc.session.msg(msg_type, content)
    kc.shell_channel.send(msg)
    return wait_reply(kc.get_shell_msg, msg["header"]["msg_id"], timeout)


def wait_reply(get, msg_id, timeout):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no reply to {msg_id} within {timeout}s")
        try:
            m = get(timeout=min(left, 0.5))
        except Empty:
            continue
        if m["parent_header"].get("msg_id") == msg_id:
            return m


def kernel_info(kc, timeout=10):
    return shell_request(kc, "kernel_info_request", {}, timeout=timeout)


def proc_tree_rss_kb(pid):
    """VmRSS (kB) of a process plus all its descendants, from /proc/<pid>/status."""
    def rss(p):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
        return 0

    def children(p):
        out = []
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                out.extend(int(k) for k in kids)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
        return out

    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss(p)
        todo.extend(children(p))
    return total


class RawClient:
    """A minimal synchronous Jupyter client on plain zmq sockets.

    Used where the test needs the raw sockets (badly signed or malformed messages) and by the
    benchmark (a zmq.Poller over shell+iopub gives precise arrival times with no event-loop
    overhead). Same connection file and key as the KernelManager.
    """

    def __init__(self, connection_info, reconnect_ivl_ms=10):
        import zmq
        from jupyter_client.session import Session

        self.zmq = zmq
        info = dict(connection_info)
        key = info["key"]
        if isinstance(key, str):
            key = key.encode()
        self.session = Session(key=key, signature_scheme=info.get("signature_scheme",
                                                                  "hmac-sha256"))
        self.ctx = zmq.Context()
        ip, transport = info["ip"], info.get("transport", "tcp")

        def sock(kind, port, identity=True):
            s = self.ctx.socket(kind)
            s.linger = 0
            s.setsockopt(zmq.RECONNECT_IVL, reconnect_ivl_ms)
            if identity:
                s.setsockopt(zmq.IDENTITY, self.session.bsession)
            if kind == zmq.SUB:
                s.setsockopt(zmq.SUBSCRIBE, b"")
            s.connect(f"{transport}://{ip}:{port}")
            return s

        self.shell = sock(zmq.DEALER, info["shell_port"])
        self.control = sock(zmq.DEALER, info["control_port"])
        self.stdin = sock(zmq.DEALER, info["stdin_port"])
        self.iopub = sock(zmq.SUB, info["iopub_port"], identity=False)
        self.poller = zmq.Poller()
        for s in (self.shell, self.control, self.stdin, self.iopub):
            self.poller.register(s, zmq.POLLIN)

    def close(self):
        for s in (self.shell, self.control, self.stdin, self.iopub):
            s.close(linger=0)
        self.ctx.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, sock, msg_type, content=None, metadata=None):
        msg = self.session.msg(msg_type, content or {}, metadata=metadata or {})
        self.session.send(sock, msg)
        return msg["header"]["msg_id"]

    def send_frames(self, sock, frames):
        sock.send_multipart(frames)

    def signed_frames(self, msg_type, content_bytes, session=None, metadata=b"{}"):
        """Wire frames for a message whose content frame is given verbatim (maybe bad JSON)."""
        session = session or self.session
        header = session.pack(session.msg_header(msg_type))
        parent = b"{}"
        parts = [header, parent, metadata, content_bytes]
        sig = session.sign(parts)
        return [b"<IDS|MSG>", sig.encode() if isinstance(sig, str) else sig] + parts

    def recv(self, sock):
        frames = sock.recv_multipart()
        _idents, msg_frames = self.session.feed_identities(frames, copy=True)
        return self.session.deserialize(msg_frames, content=True, copy=True)

    def poll(self, timeout_s):
        """Yield (socket, message, arrival time) until timeout_s passes without a message."""
        events = dict(self.poller.poll(int(timeout_s * 1000)))
        now = time.perf_counter()
        out = []
        for s in (self.iopub, self.shell, self.control, self.stdin):
            if events.get(s):
                while True:
                    try:
                        frames = s.recv_multipart(flags=self.zmq.NOBLOCK)
                    except self.zmq.Again:
                        break
                    _i, mf = self.session.feed_identities(frames, copy=True)
                    out.append((s, self.session.deserialize(mf, content=True, copy=True), now))
        return out

    def wait_reply(self, sock, msg_id, timeout):
        """Wait for the reply to msg_id on sock; returns (msg, arrival perf_counter) or None."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for s, m, t in self.poll(max(0.0, deadline - time.perf_counter())):
                if s is sock and m["parent_header"].get("msg_id") == msg_id:
                    return m, t
        return None

    def run(self, code, timeout=60, metadata=None):
        """execute_request; returns (reply, iopub messages, seconds from send to reply+idle)."""
        t0 = time.perf_counter()
        msg_id = self.send(self.shell, "execute_request",
                           dict(code=code, silent=False, store_history=True,
                                user_expressions={}, allow_stdin=False, stop_on_error=True),
                           metadata=metadata)
        reply, iopub, idle_t = None, [], None
        deadline = t0 + timeout
        while reply is None or idle_t is None:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no reply+idle for {code!r} within {timeout}s")
            for s, m, t in self.poll(left):
                if m["parent_header"].get("msg_id") != msg_id:
                    continue
                if s is self.shell:
                    reply = m
                    reply_t = t
                elif s is self.iopub:
                    iopub.append(m)
                    if m["msg_type"] == "status" and \
                            m["content"]["execution_state"] == "idle":
                        idle_t = t
        return reply, iopub, max(reply_t, idle_t) - t0
