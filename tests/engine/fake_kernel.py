"""fake_kernel.py: an in-process stand-in for a kernel client speaking the ripple cell protocol, used only to test the differential harness's plumbing (driver, checks, reports, replay) without the real engine.
It keeps its own document order by the protocol's rules and computes outputs with the oracle; it must not be mistaken for, or know anything about, ripple's engine.

Modes:
  perfect      what a correct engine shows: the executed cell's display, update_display_data
               for every other cell whose composite changed.
  stale        never updates other cells (a kernel that reruns nothing).
  corrupt:N    perfect, except that the N-th tracked execute (1-based) shows a wrong text.
  silent       publishes no displays at all (a kernel without the engine).
  hang         never answers execute requests (for timeout handling).
"""

import contextlib
import queue

from jupyter_client.session import Session

from oracle import probe_code, run_reference


class FakeKernelManager:
    def is_alive(self):
        return True


class FakeKernelClient:
    def __init__(self, mode="perfect"):
        self.mode = mode
        self.session = Session()
        self.shell_channel = self
        self._iopub = queue.Queue()
        self._shell = queue.Queue()
        self.doc = []                   # [id, code] in the fake's document order
        self.last_executed = None
        self.published = {}             # id -> composite last published for it
        self.executes = 0
        self.comms = set()
        self._probe = probe_code()
        self._runs = {}

    # ---- the client API the driver uses ----

    def get_iopub_msg(self, timeout=None):
        return self._iopub.get(timeout=timeout)

    def get_shell_msg(self, timeout=None):
        return self._shell.get(timeout=timeout)

    def send(self, msg):
        handler = getattr(self, "_on_" + msg["msg_type"], None)
        self._pub("status", {"execution_state": "busy"}, msg)
        if handler is not None:
            if handler(msg) is False:
                return          # "hang": no reply, no idle
        self._pub("status", {"execution_state": "idle"}, msg)

    # ---- internals ----

    def _pub(self, msg_type, content, parent):
        self._iopub.put(self.session.msg(msg_type, content, parent=parent))

    def _reply(self, content, parent):
        self._shell.put(self.session.msg("execute_reply", content, parent=parent))

    def _fresh(self, probe=False):
        key = (tuple(code for _, code in self.doc), probe)
        if key not in self._runs:
            cells = [(f"c{i}", code) for i, (_, code) in enumerate(self.doc)]
            self._runs[key] = run_reference(cells, self._probe if probe else None)
        ref = self._runs[key]
        by_id = {cid: (ref.composites[f"c{i}"], ref.errors[f"c{i}"])
                 for i, (cid, _) in enumerate(self.doc)}
        return by_id, ref

    def _display(self, msg_type, cell_id, text, parent):
        self._pub(msg_type, {"data": {"text/plain": text}, "metadata": {},
                             "transient": {"display_id": "ripple-" + cell_id}}, parent)
        self.published[cell_id] = text

    def _update_others(self, fresh, parent, skip=None):
        reran = []
        if self.mode in ("stale", "silent"):
            return reran
        for cid, _ in self.doc:
            if cid != skip and cid in self.published and self.published[cid] != fresh[cid][0]:
                self._display("update_display_data", cid, fresh[cid][0], parent)
                reran.append(cid)
        return reran

    def _on_execute_request(self, msg):
        if self.mode == "hang":
            return False
        content, meta = msg["content"], msg["metadata"]
        cell_id = meta.get("cellId")
        self._pub("execute_input", {"code": content["code"], "execution_count": 1}, msg)
        if cell_id is None:
            _, ref = self._fresh(probe=True)
            self._pub("stream", {"name": "stdout", "text": ref.probe_raw}, msg)
            self._reply({"status": "ok", "execution_count": 1}, msg)
            return True
        deleted = set(meta.get("deletedCells") or ())
        self.doc = [c for c in self.doc if c[0] not in deleted]
        ids = [c[0] for c in self.doc]
        if cell_id in ids:
            self.doc[ids.index(cell_id)][1] = content["code"]
        elif self.last_executed in ids:
            self.doc.insert(ids.index(self.last_executed) + 1, [cell_id, content["code"]])
        else:
            self.doc.append([cell_id, content["code"]])
        self.last_executed = cell_id
        self.executes += 1
        fresh, _ = self._fresh()
        text, failed = fresh[cell_id]
        if self.mode.startswith("corrupt:") and self.executes == int(self.mode.split(":")[1]):
            text += "<corrupted>"
        self._pub("clear_output", {"wait": True}, msg)
        if self.mode != "silent":
            self._display("display_data", cell_id, text, msg)
            self.published[cell_id] = fresh[cell_id][0]   # a corruption is never healed
        reran = self._update_others(fresh, msg, skip=cell_id)
        if reran:
            self._pub("stream", {"name": "stdout", "text": "↻ reran " + " ".join(reran) + "\n"},
                      msg)
        status = "error" if failed else "ok"
        reply = {"status": status, "execution_count": 1}
        if failed:
            reply.update(ename="error", evalue="", traceback=[])
        self._reply(reply, msg)
        return True

    def _on_comm_open(self, msg):
        if msg["content"].get("target_name") == "ripple":
            self.comms.add(msg["content"]["comm_id"])
        else:
            self._pub("comm_close", {"comm_id": msg["content"]["comm_id"], "data": {}}, msg)

    def _on_comm_msg(self, msg):
        content = msg["content"]
        if content.get("comm_id") not in self.comms:
            return
        notebook = content.get("data", {}).get("notebook")
        if notebook is None:
            return
        self.doc = [[c["id"], c["code"]] for c in notebook]
        fresh, _ = self._fresh()
        self._update_others(fresh, msg)


@contextlib.contextmanager
def fake_kernel(mode="perfect"):
    yield FakeKernelManager(), FakeKernelClient(mode)
