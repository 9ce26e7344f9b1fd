"""driver.py: talks to a running kernel for the differential test: tracked executes (cellId, deletedCells metadata), the `ripple` comm notebook message, anonymous probe cells, and what each tracked cell currently shows (latest display_data/update_display_data per display id).
Knows the Jupyter messages of the ripple kernel protocol; must not know about R semantics, the generator's templates or the reference run.
"""

import time
import uuid
from dataclasses import dataclass, field
from queue import Empty

import zmq

DISPLAY_PREFIX = "ripple-"
RERUN_MARK = "↻ "


class KernelFailure(RuntimeError):
    """The kernel did not answer (timeout) or died: the session cannot go on."""


@dataclass
class RequestResult:
    msg_id: str
    kind: str                                   # execute | comm_open | comm_msg | probe
    reply: dict = None                          # shell reply (None for comm messages)
    iopub: list = field(default_factory=list)   # iopub messages with this parent, in order
    elapsed: float = 0.0

    @property
    def status(self):
        return self.reply["content"]["status"] if self.reply else None

    def stream_text(self, name="stdout"):
        return "".join(m["content"]["text"] for m in self.iopub
                       if m["msg_type"] == "stream" and m["content"]["name"] == name)

    def displays_for(self, display_id, msg_type="display_data"):
        return [m for m in self.iopub if m["msg_type"] == msg_type
                and display_id_of(m) == display_id]

    def summary(self, width=100):
        parts = []
        for m in self.iopub:
            t, c = m["msg_type"], m["content"]
            if t == "status":
                continue
            if t == "stream":
                parts.append(f"stream/{c['name']} {c['text'][:width]!r}")
            elif t in ("display_data", "update_display_data", "execute_result"):
                text = c.get("data", {}).get("text/plain", "")
                parts.append(f"{t}[{display_id_of(m)}] {text[:width]!r}")
            elif t == "error":
                parts.append(f"error {c.get('ename')}: {c.get('evalue')!r}")
            elif t == "clear_output":
                parts.append(f"clear_output(wait={c.get('wait')})")
            elif t in ("comm_msg", "comm_close", "comm_open"):
                parts.append(f"{t} {str(c.get('data'))[:width]}")
            else:
                parts.append(t)
        head = f"{self.kind} status={self.status}" if self.reply else self.kind
        return f"{head} ({self.elapsed:.2f}s): " + ("; ".join(parts) if parts else "no output")


def display_id_of(msg):
    return (msg["content"].get("transient") or {}).get("display_id")


class _SocketReceiver:
    """Waits on a KernelClient's iopub and shell sockets at once (one zmq poll, as nbclient and JupyterLab do) and
    takes a message from a ready socket the moment it is there. Messages are decoded (signature checked) exactly as
    the channels' own get_msg does, but read through synchronous shadows of their sockets, as pyzmq's asyncio
    sockets do themselves: jupyter_client 7's get_msg(timeout=0) runs an asyncio loop per call, about 55 us a
    message here, a cost of its blocking API that neither JupyterLab nor nbclient pays."""

    def __init__(self, kc):
        self.session = kc.session
        self.iopub = zmq.Socket.shadow(kc.iopub_channel.socket.underlying)
        self.shell = zmq.Socket.shadow(kc.shell_channel.socket.underlying)
        self.both, self.iopub_only = zmq.Poller(), zmq.Poller()
        self.both.register(self.iopub, zmq.POLLIN)
        self.both.register(self.shell, zmq.POLLIN)
        self.iopub_only.register(self.iopub, zmq.POLLIN)

    @staticmethod
    def usable(kc):
        sockets = [getattr(getattr(kc, name, None), "socket", None) for name in ("iopub_channel", "shell_channel")]
        return all(isinstance(s, zmq.Socket) for s in sockets)

    def receive(self, shell_too, until):
        """(iopub message or None, shell message or None), waiting until the monotonic time `until` at most."""
        wait_ms = max(0, int(1000 * (until - time.monotonic())) + 1)
        ready = dict((self.both if shell_too else self.iopub_only).poll(wait_ms))
        iopub = self._take(self.iopub) if ready.get(self.iopub, 0) & zmq.POLLIN else None
        shell = self._take(self.shell) if shell_too and ready.get(self.shell, 0) & zmq.POLLIN else None
        return iopub, shell

    def _take(self, socket):
        try:
            frames = socket.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return None
        _, frames = self.session.feed_identities(frames)
        return self.session.deserialize(frames)


class _PollingReceiver:
    """For in-process stand-ins without sockets (the harness's fake kernels): short timed waits on each queue."""

    def __init__(self, kc):
        self.kc = kc

    def receive(self, shell_too, until):
        iopub = shell = None
        try:
            iopub = self.kc.get_iopub_msg(timeout=0.02)
        except Empty:
            pass
        if shell_too:
            try:
                shell = self.kc.get_shell_msg(timeout=0.001 if iopub is not None else 0.01)
            except Empty:
                pass
        return iopub, shell


class KernelDriver:
    """One kernel client; every iopub message (whatever its parent) feeds `shown`."""

    def __init__(self, kc, km=None, timeout=60.0):
        self.kc = kc
        self.km = km
        self.timeout = timeout
        self.shown = {}             # cell id -> latest composite shown for it
        self.bundles = {}           # cell id -> latest display bundle (all mime types) shown for it
        self.comm_id = None
        self.opened_comm_id = None
        self.notes = []             # protocol oddities worth showing in a report
        self.stray = []             # iopub messages whose parent is none of our requests

    # ---- low level ----

    def _observe(self, msg):
        t = msg["msg_type"]
        if t in ("display_data", "update_display_data"):
            did = display_id_of(msg)
            if did and did.startswith(DISPLAY_PREFIX):
                # A bundle without text/plain shows nothing: the empty composite.
                text = msg["content"].get("data", {}).get("text/plain", "")
                if isinstance(text, list):          # nbformat-style multiline string
                    text = "".join(text)
                self.shown[did[len(DISPLAY_PREFIX):]] = text
                self.bundles[did[len(DISPLAY_PREFIX):]] = msg["content"].get("data", {})
        elif t == "comm_close" and msg["content"].get("comm_id") == self.comm_id:
            self.notes.append("the kernel closed the 'ripple' comm")
            self.comm_id = None

    def _alive(self):
        if self.km is None:
            return True
        try:
            return self.km.is_alive()
        except Exception:
            return True

    def _wait(self, msg_id, kind, want_reply):
        """Collect until idle (and the shell reply when want_reply) for msg_id. Shell messages are read only while
        the reply is still wanted; ones for other requests are dropped."""
        res = RequestResult(msg_id, kind)
        t0 = time.monotonic()
        deadline = t0 + self.timeout
        idle = False
        next_alive_check = t0 + 2.0
        receiver = (_SocketReceiver if _SocketReceiver.usable(self.kc) else _PollingReceiver)(self.kc)
        while not (idle and (res.reply is not None or not want_reply)):
            now = time.monotonic()
            if now > deadline:
                raise KernelFailure(f"no {'reply and ' if want_reply else ''}idle within "
                                    f"{self.timeout:.0f}s for the {kind} request; seen so far: "
                                    f"{res.summary()}")
            if now > next_alive_check:
                next_alive_check = now + 2.0
                if not self._alive():
                    raise KernelFailure(f"the kernel died during the {kind} request; seen so "
                                        f"far: {res.summary()}")
            m, reply = receiver.receive(want_reply and res.reply is None, min(deadline, next_alive_check))
            if m is not None:
                self._observe(m)
                if m["parent_header"].get("msg_id") == msg_id:
                    res.iopub.append(m)
                    if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                        idle = True
                elif m["msg_type"] != "status":
                    self.stray.append(m)
            if reply is not None and reply["parent_header"].get("msg_id") == msg_id:
                res.reply = reply
        res.elapsed = time.monotonic() - t0
        return res

    def _send_shell(self, msg_type, content, metadata=None):
        msg = self.kc.session.msg(msg_type, content, metadata=metadata or {})
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    # ---- requests ----

    def execute(self, code, metadata=None, kind="execute"):
        content = dict(code=code, silent=False, store_history=True, user_expressions={},
                       allow_stdin=False, stop_on_error=False)
        msg_id = self._send_shell("execute_request", content, metadata)
        return self._wait(msg_id, kind, want_reply=True)

    def execute_cell(self, cell_id, code, deleted=()):
        metadata = {"cellId": cell_id}
        if deleted:
            metadata["deletedCells"] = list(deleted)
        return self.execute(code, metadata)

    def open_comm(self):
        self.comm_id = self.opened_comm_id = uuid.uuid4().hex
        msg_id = self._send_shell("comm_open", {"comm_id": self.comm_id, "target_name": "ripple",
                                                "data": {}})
        return self._wait(msg_id, "comm_open", want_reply=False)

    def send_notebook(self, cells):
        """cells: sequence of (id, code) in document order."""
        opened = None
        if self.comm_id is None:
            opened = self.open_comm()
        comm_id = self.comm_id or self.opened_comm_id
        data = {"notebook": [{"id": cid, "code": code} for cid, code in cells]}
        msg_id = self._send_shell("comm_msg", {"comm_id": comm_id, "data": data})
        res = self._wait(msg_id, "comm_msg", want_reply=False)
        if opened is not None:
            res.iopub = opened.iopub + res.iopub
        return res

    def probe(self, code):
        return self.execute(code, None, kind="probe")
