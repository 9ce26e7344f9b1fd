# jupyter_ws.py: a minimal Jupyter server client: REST (kernels) + the kernel websocket, to run cells and read outputs.
# Must not know how the server was started (podman, JupyterHub, plain notebook); only Debian's Python packages.
#
# CLI: /usr/bin/python3 jupyter_ws.py --url http://127.0.0.1:PORT[/user/NAME] --token T [--kernel ripple]
#                                     [--expect-default KERNEL] [--expect-file PATH]
#                                     --cell CODE --expect TEXT [--cell CODE --expect TEXT ...]
# Cells run in order in one kernel; each cell's text/plain result (or stream) must contain its TEXT.
# --expect-default: the server's default kernel; --expect-file: a path the contents API must list.
import argparse
import datetime
import json
import sys
import time
import urllib.error
import urllib.request
import uuid

import websocket  # Debian: python3-websocket


class JupyterServer:
    def __init__(self, base_url, token, timeout=30):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            text = resp.read().decode()
            return json.loads(text) if text else None

    def wait_ready(self, deadline_s=60):
        """Polls GET /api until the server answers (returns its version)."""
        end = time.monotonic() + deadline_s
        last = None
        while time.monotonic() < end:
            try:
                return self.request("GET", "/api")["version"]
            except (urllib.error.URLError, ConnectionError, OSError) as e:
                last = e
                time.sleep(0.5)
        raise TimeoutError(f"no Jupyter server at {self.base_url}/api after {deadline_s}s ({last})")

    def kernelspecs(self):
        return self.request("GET", "/api/kernelspecs")

    def start_kernel(self, name):
        return self.request("POST", "/api/kernels", {"name": name})["id"]

    def shutdown_kernel(self, kernel_id):
        self.request("DELETE", f"/api/kernels/{kernel_id}")

    def connect(self, kernel_id):
        return KernelChannels(self, kernel_id)


class KernelChannels:
    """The kernel's websocket (all channels multiplexed, JSON messages with a 'channel' key)."""

    def __init__(self, server, kernel_id):
        self.session = uuid.uuid4().hex
        url = server.base_url.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels?session_id={self.session}"
        self.ws = websocket.create_connection(url, timeout=server.timeout, suppress_origin=True,
                                              header=[f"Authorization: token {server.token}"])

    def close(self):
        self.ws.close()

    def _message(self, msg_type, content, channel="shell", metadata=None):
        msg_id = uuid.uuid4().hex
        return msg_id, {
            "header": {"msg_id": msg_id, "msg_type": msg_type, "username": "test", "session": self.session,
                       "date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "version": "5.3"},
            "parent_header": {}, "metadata": metadata or {}, "content": content, "channel": channel, "buffers": [],
        }

    def execute(self, code, timeout=60, cell_id=None):
        """Runs code (as notebook cell `cell_id`, as front ends send it); returns {'status', 'result' (text/plain),
        'stream', 'errors', 'from_cache'} once the kernel is idle."""
        msg_id, msg = self._message("execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True}, metadata={"cellId": cell_id} if cell_id else None)
        self.ws.send(json.dumps(msg))
        out = {"status": None, "result": "", "stream": "", "errors": [], "from_cache": []}
        idle = False
        end = time.monotonic() + timeout
        while not (idle and out["status"]):
            if time.monotonic() > end:
                raise TimeoutError(f"cell {code!r} did not finish in {timeout}s (got {out})")
            self.ws.settimeout(max(0.1, end - time.monotonic()))
            reply = json.loads(self.ws.recv())
            if reply.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = reply["header"]["msg_type"], reply["content"]
            if kind == "execute_result" or kind == "display_data":
                out["result"] += content.get("data", {}).get("text/plain", "")
            elif kind == "stream":
                out["stream"] += content.get("text", "")
            elif kind == "error":
                out["errors"].append(f"{content.get('ename')}: {content.get('evalue')}")
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind == "execute_reply":
                out["status"] = content.get("status")
                out["from_cache"] = content.get("ripple_from_cache", [])  # ripple: cells served, not run
        return out


def run_cells(server, kernel_name, cells, timeout=60):
    """Starts a kernel, runs [(code, expected)...] in order, shuts it down; returns a list of problems."""
    problems = []
    kernel_id = server.start_kernel(kernel_name)
    try:
        channels = server.connect(kernel_id)
        try:
            for code, expected in cells:
                out = channels.execute(code, timeout=timeout)
                shown = (out["result"] + out["stream"]).strip()
                ok = out["status"] == "ok" and expected in shown
                print(f"{'ok  ' if ok else 'FAIL'} {code!r} -> {shown!r} (status {out['status']}, want {expected!r})")
                if not ok:
                    problems.append(f"cell {code!r}: got {shown!r}, status {out['status']}, errors {out['errors']}")
        finally:
            channels.close()
    finally:
        server.shutdown_kernel(kernel_id)
    return problems


def main():
    ap = argparse.ArgumentParser(description="Run cells in a kernel of a Jupyter server over REST + websocket.")
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--kernel", default="ripple")
    ap.add_argument("--expect-default")
    ap.add_argument("--expect-file")
    ap.add_argument("--cell", action="append", default=[])
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--ready-timeout", type=float, default=60)
    ap.add_argument("--cell-timeout", type=float, default=60)
    args = ap.parse_args()
    if len(args.cell) != len(args.expect) or not args.cell:
        ap.error("give --cell and --expect in pairs")
    server = JupyterServer(args.url, args.token)
    print(f"server {args.url}: Jupyter API version {server.wait_ready(args.ready_timeout)}")
    specs = server.kernelspecs()
    if args.kernel not in specs.get("kernelspecs", {}):
        print(f"FAIL kernel {args.kernel!r} not among {sorted(specs.get('kernelspecs', {}))}")
        return 1
    print(f"ok   kernelspec {args.kernel!r} listed (default: {specs.get('default')})")
    problems = []
    if args.expect_default and specs.get("default") != args.expect_default:
        problems.append(f"default kernel is {specs.get('default')!r}, want {args.expect_default!r}")
        print(f"FAIL {problems[-1]}")
    if args.expect_file:
        try:
            server.request("GET", f"/api/contents/{args.expect_file}?content=0")
            print(f"ok   {args.expect_file} is in the server's contents")
        except urllib.error.HTTPError as e:
            problems.append(f"{args.expect_file} not found by the contents API ({e.code})")
            print(f"FAIL {problems[-1]}")
    problems += run_cells(server, args.kernel, list(zip(args.cell, args.expect)), args.cell_timeout)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
