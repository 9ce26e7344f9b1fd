"""socket_fuzz.py: a seeded, time-bounded fuzzer for a Jupyter kernel's ZeroMQ sockets (shell, control, stdin, heartbeat).
Knows only the wire protocol and a connection file: used by test_socket_fuzz.py for ripple and by bench/ for IRkernel.

Mixes random frames, bad and missing signatures, signed invalid JSON, signed non-objects, wrong types in header
fields and content, unknown message types, truncated multipart messages, replays of a signature already accepted
and a few huge frames. Every message carrying a bad signature tries to set the marker variable; the replays
repeat a signed increment of a counter. Afterwards `check_survivor` says whether the kernel still works, still
holds a variable set before the fuzz, never ran a marker, and ran the counted increment exactly once.

Run against IRkernel: /usr/bin/python3 tests/kernel/socket_fuzz.py --kernel ir --messages 20000
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kernel_env import RawClient  # noqa: E402

MARKER = "fuzz_marker_ran"
COUNTER = "fuzz_replay_count"
KEPT = "fuzz_kept_value"
HUGE_BYTES = 300 * 1024 * 1024  # over the 256 MB limit SPEC section 7 asks kernels to enforce

SHELL_TYPES = ["execute_request", "complete_request", "inspect_request", "history_request", "is_complete_request",
               "comm_info_request", "kernel_info_request", "comm_open", "comm_msg", "comm_close", "shutdown_request"]
WRONG_CONTENT = [
    ("execute_request", {"code": 123}),
    ("execute_request", {"code": None, "silent": "no"}),
    ("execute_request", {"code": "1", "user_expressions": [1]}),
    ("execute_request", {"code": "1", "store_history": "yes"}),
    ("complete_request", {"code": "pri", "cursor_pos": -5}),
    ("complete_request", {"code": "pri", "cursor_pos": "3"}),
    ("complete_request", {"code": "pri", "cursor_pos": 10 ** 12}),
    ("inspect_request", {"code": "print", "cursor_pos": -1, "detail_level": 0}),
    ("inspect_request", {"code": ["print"], "cursor_pos": 2}),
    ("history_request", {"hist_access_type": "tail", "n": "ten"}),
    ("history_request", {"hist_access_type": 5}),
    ("history_request", {"hist_access_type": "range", "session": "x", "start": None, "stop": {}}),
    ("is_complete_request", {"code": 7}),
    ("comm_open", {"comm_id": None, "target_name": "ripple", "data": {}}),
    ("comm_msg", {"comm_id": None, "data": {}}),
    ("comm_msg", {"comm_id": "nope", "data": "not an object"}),
    ("comm_close", {"comm_id": 17}),
    ("comm_info_request", {"target_name": 3}),
    ("shutdown_request", {"restart": "maybe"}),
]
BAD_HEADERS = [
    {"msg_id": 1, "msg_type": "kernel_info_request", "session": "s", "username": "u", "version": "5.3", "date": ""},
    {"msg_id": "a", "msg_type": None, "session": "s", "username": "u", "version": "5.3", "date": ""},
    {"msg_id": "a", "msg_type": ["execute_request"], "session": "s", "username": "u", "version": "5.3"},
    {"msg_type": "kernel_info_request"},
    {"msg_id": "a", "msg_type": "kernel_info_request", "session": 5, "username": {}, "version": 5.3},
]
NOT_JSON = [b"{not json", b"", b"\xff\xfe\x00", b'{"a": ', b"[" * 100000, b"nan", b'{"code": "x"']
NOT_OBJECT = [b"[1, 2, 3]", b"42", b'"text"', b"null", b"true"]


class Fuzzer:
    def __init__(self, connection_info, seed=0):
        self.connection_info = dict(connection_info)
        self.raw = RawClient(connection_info)
        self.rng = random.Random(seed)
        self.sent = {}
        import zmq

        self.zmq = zmq
        self.hb = self.raw.ctx.socket(zmq.DEALER)  # garbage to the heartbeat's REP socket
        self.hb.linger = 0
        self.hb.connect(f"{connection_info.get('transport', 'tcp')}://{connection_info['ip']}:{connection_info['hb_port']}")
        self.hb_address = f"{connection_info.get('transport', 'tcp')}://{connection_info['ip']}:{connection_info['hb_port']}"
        self.replay = None

    def close(self):
        self.hb.close(linger=0)
        self.raw.close()

    # building blocks -------------------------------------------------------------------------------------------
    def socket(self):
        return self.rng.choice([self.raw.shell, self.raw.shell, self.raw.control, self.raw.stdin, self.hb])

    def random_bytes(self, n):
        return bytes(self.rng.getrandbits(8) for _ in range(n))

    def header(self, msg_type):
        return self.raw.session.msg_header(msg_type)

    def sign(self, parts):
        sig = self.raw.session.sign(parts)
        return sig.encode() if isinstance(sig, str) else sig

    def signed(self, header_bytes, parent=b"{}", metadata=b"{}", content=b"{}"):
        parts = [header_bytes, parent, metadata, content]
        return [b"<IDS|MSG>", self.sign(parts)] + parts

    def marker_execute(self):
        content = {"code": f"{MARKER} <- TRUE", "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": True}
        return self.raw.session.pack(self.header("execute_request")), json.dumps(content).encode()

    # message kinds ----------------------------------------------------------------------------------------------
    def random_frames(self):
        return [self.random_bytes(self.rng.randint(0, 64)) for _ in range(self.rng.randint(1, 9))]

    def bad_signature(self):
        header, content = self.marker_execute()
        sig = self.rng.choice([self.random_bytes(32).hex().encode(), b"", b"00" * 32, self.random_bytes(7)])
        return [b"<IDS|MSG>", sig, header, b"{}", b"{}", content]

    def missing_signature(self):
        header, content = self.marker_execute()
        return self.rng.choice([[b"<IDS|MSG>", header, b"{}", b"{}", content],
                                [header, b"{}", b"{}", content],
                                [b"<IDS|MSG>"]])

    def signed_not_json(self):
        frames = [self.raw.session.pack(self.header(self.rng.choice(SHELL_TYPES))), b"{}", b"{}", b"{}"]
        frames[self.rng.randrange(4)] = self.rng.choice(NOT_JSON)
        return self.signed(*frames)

    def signed_not_object(self):
        frames = [self.raw.session.pack(self.header(self.rng.choice(SHELL_TYPES))), b"{}", b"{}", b"{}"]
        frames[self.rng.randrange(4)] = self.rng.choice(NOT_OBJECT)
        return self.signed(*frames)

    def signed_wrong_types(self):
        if self.rng.random() < 0.3:
            header = dict(self.rng.choice(BAD_HEADERS), nonce=self.rng.getrandbits(64))  # a new signature each time
            return self.signed(json.dumps(header).encode())
        msg_type, content = self.rng.choice(WRONG_CONTENT)
        return self.signed(self.raw.session.pack(self.header(msg_type)), content=json.dumps(content).encode())

    def signed_unknown_type(self):
        msg_type = self.rng.choice(["no_such_request", "execute_reply", "stream", "", "x" * 300, "input_reply"])
        return self.signed(self.raw.session.pack(self.header(msg_type)))

    def truncated(self):
        header, content = self.marker_execute()
        frames = self.signed(header, content=content)
        return frames[: self.rng.randint(1, len(frames) - 1)]

    def replayed(self):
        return list(self.replay)

    KINDS = ["random_frames", "bad_signature", "missing_signature", "signed_not_json", "signed_not_object",
             "signed_wrong_types", "signed_unknown_type", "truncated", "replayed"]

    def run(self, messages=20000, seconds=40.0, huge=2):
        """Send up to `messages` messages within `seconds`; returns counts per kind."""
        header = self.raw.session.pack(self.header("execute_request"))
        content = json.dumps({"code": f"{COUNTER} <- {COUNTER} + 1", "silent": False, "store_history": False,
                              "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}).encode()
        self.replay = self.signed(header, content=content)
        self.raw.send_frames(self.raw.shell, self.replay)  # the one genuine increment
        huge_at = sorted(self.rng.sample(range(1, max(2, messages)), k=min(huge, max(0, messages - 1))))
        deadline = time.monotonic() + seconds
        for i in range(messages):
            if time.monotonic() > deadline:
                break
            if huge_at and i == huge_at[0]:
                huge_at.pop(0)
                frames = [b"<IDS|MSG>", b"0" * 64, b"{", b"{}", b"{}", b"x" * HUGE_BYTES]
                self.send(self.rng.choice([self.raw.shell, self.raw.control]), frames, "huge")
                continue
            kind = self.rng.choice(self.KINDS)
            self.send(self.socket(), getattr(self, kind)(), kind)
            if i % 200 == 0:
                self.raw.poll(0)  # drain replies so our own receive queues stay small
        self.raw.poll(0.2)
        return self.sent

    def send(self, sock, frames, kind):
        try:
            sock.send_multipart(frames, flags=self.zmq.NOBLOCK)
        except self.zmq.Again:
            time.sleep(0.001)
            return
        self.sent[kind] = self.sent.get(kind, 0) + 1


def heartbeat_alive(fuzzer, timeout=5.0):
    zmq = fuzzer.zmq
    req = fuzzer.raw.ctx.socket(zmq.REQ)
    req.linger = 0
    req.connect(fuzzer.hb_address)
    try:
        req.send(b"ping")
        return bool(req.poll(int(timeout * 1000))) and req.recv() == b"ping"
    finally:
        req.close(linger=0)


def value_of(raw, expression, timeout=30):
    """Text R prints for `cat(expression)` through a correctly signed request, or None without an answer."""
    try:
        _reply, iopub, _t = raw.run(f"cat({expression})", timeout=timeout)
    except TimeoutError:
        return None
    return "".join(m["content"].get("text", "") for m in iopub if m["msg_type"] == "stream")


def check_survivor(fuzzer, is_alive):
    """Problems found after the fuzz (empty when the kernel survived intact), asked through a new client: the
    fuzzer's own connections may have been cut by the kernel for sending frames over the size limit."""
    problems = []
    if not is_alive():
        return ["the kernel process died"]
    if not heartbeat_alive(fuzzer):
        problems.append("the heartbeat no longer answers")
    with RawClient(fuzzer.connection_info) as raw:
        prepare(raw, set_variables=False)
        problems += check_session(raw)
    if not is_alive():
        problems.append("the kernel process died during the checks")
    return problems


def check_session(raw):
    problems = []
    msg_id = raw.send(raw.shell, "kernel_info_request")
    if raw.wait_reply(raw.shell, msg_id, timeout=30) is None:
        problems.append("no kernel_info_reply after the fuzz")
    kept = value_of(raw, KEPT)
    if kept != "42":
        problems.append(f"the variable set before the fuzz reads {kept!r}, not '42'")
    marker = value_of(raw, f'exists("{MARKER}")')
    if marker != "FALSE":
        problems.append(f"a badly signed marker assignment took effect (exists: {marker!r})")
    count = value_of(raw, COUNTER)
    if count != "1":
        problems.append(f"the signed increment ran {count!r} times (replays must be dropped; expected '1')")
    return problems


def prepare(raw, timeout=60, set_variables=True):
    """Wait until our iopub subscription sees the kernel (ZeroMQ's slow joiner), then set the variables."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw.send(raw.shell, "kernel_info_request")
        if any(s is raw.iopub for s, _m, _t in raw.poll(0.5)):
            break
    raw.poll(0.2)
    if set_variables:
        raw.run(f"{KEPT} <- 42; {COUNTER} <- 0", timeout=60)


def main():
    from kernel_env import KernelEnv

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default="ripple", choices=["ripple", "ir"])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with KernelEnv([args.kernel]) as env, env.start(args.kernel) as (km, _kc):
        fuzzer = Fuzzer(km.get_connection_info(), seed=args.seed)
        try:
            prepare(fuzzer.raw)
            t0 = time.monotonic()
            sent = fuzzer.run(args.messages, args.seconds)
            elapsed = time.monotonic() - t0
            problems = check_survivor(fuzzer, km.is_alive)
        finally:
            fuzzer.close()
    print(json.dumps({"kernel": args.kernel, "seed": args.seed, "sent": sum(sent.values()), "by_kind": sent,
                      "seconds": round(elapsed, 1), "survived": not problems, "problems": problems}, indent=1))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
