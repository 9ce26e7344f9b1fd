"""test_harness.py: self-tests of the differential test's plumbing: generator (determinism, replayable prefixes, document invariants), driver (display tracking), checks and reports, replay, CLI, all against fake_kernel.py.
Must not need ripple's kernel or engine: a harness that passes here judges the kernel correctly.

Run: /usr/bin/python3 -m pytest -q tests/engine/test_harness.py
"""

import queue
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from differential import run_session  # noqa: E402
from driver import KernelDriver  # noqa: E402
from fake_kernel import fake_kernel  # noqa: E402
from generator import generate_session, rng_valid, draws, seeds  # noqa: E402
from jupyter_client.session import Session  # noqa: E402
from oracle import run_reference  # noqa: E402

PYTHON = "/usr/bin/python3"
SEEDS = range(1, 401)


# ---- generator ----

def test_sessions_are_deterministic_and_prefixes_replay():
    for seed in (1, 7, 1234):
        a, b = generate_session(seed, 10), generate_session(seed, 10)
        assert a == b
        short = generate_session(seed, 4)
        assert short.steps == a.steps[:5]
    assert generate_session(1, 10) != generate_session(2, 10)


class ProtocolModel:
    """The kernel's view of the document per the protocol (independent of the generator):
    a new id goes after the last executed cell, deletedCells remove, the comm replaces."""

    def __init__(self):
        self.doc, self.last = [], None

    def apply(self, action):
        if action.kind == "notebook":
            self.doc = [(c.id, c.code) for c in action.notebook]
            return
        self.doc = [c for c in self.doc if c[0] not in action.deleted]
        ids = [c[0] for c in self.doc]
        if action.cell_id in ids:
            self.doc[ids.index(action.cell_id)] = (action.cell_id, action.code)
        elif self.last in ids:
            self.doc.insert(ids.index(self.last) + 1, (action.cell_id, action.code))
        else:
            self.doc.append((action.cell_id, action.code))
        self.last = action.cell_id


def test_every_step_tells_the_kernel_the_exact_document_and_runs_what_changed():
    ops = Counter()
    for seed in SEEDS:
        session = generate_session(seed, 12)
        model, executed = ProtocolModel(), {}
        seen_ids = set()
        for step in session.steps:
            ops[re.sub(r" cell-\d+.*|:.*", "", step.op) + (" comm" if "comm" in step.op else "")
                + (" deletedCells" if "deletedCells" in step.op else "")] += 1
            for action in step.actions:
                model.apply(action)
                if action.kind == "execute":
                    executed[action.cell_id] = action.code
            doc = [(c.id, c.code) for c in step.doc]
            assert model.doc == doc, f"seed {seed} {step.describe()}"
            # every current cell ran after its last edit: current cells == executed cells
            assert all(executed.get(cid) == code for cid, code in doc), f"seed {seed} step {step.index}"
            ids = [cid for cid, _ in doc]
            assert len(ids) == len(set(ids))
            assert 1 <= len(doc) <= 10
            assert rng_valid([code for _, code in doc]), f"seed {seed} step {step.index}"
            # ids are never reused after deletion
            new = set(ids) - seen_ids
            assert all(int(i.split("-")[1]) > max([0] + [int(s.split("-")[1]) for s in seen_ids])
                       for i in new)
            seen_ids |= set(ids)
    for kind in ("init", "execute", "edit", "insert", "insert comm", "delete deletedCells",
                 "delete comm", "move comm"):
        assert ops[kind] > 20, (kind, ops)


def test_rng_validity_rule():
    assert rng_valid(["set.seed(1)\nx <- 1", "runif(1)"])
    assert rng_valid(["set.seed(1); sample(3)"])
    assert not rng_valid(["runif(1)", "set.seed(1)"])
    assert not rng_valid(["x <- 1\nset.seed(2)", "sample(3)"])   # seeding must come first
    assert seeds("set.seed(3)\nr <- runif(1)") and draws("s <- sample(4)")


def test_generated_notebooks_cover_the_templates():
    text = "\n".join(c.code for seed in range(1, 200)
                     for step in generate_session(seed, 8).steps for c in step.doc)
    for needle in ("x <- x + ", "df <- df[df$a", "names(v) <- ", "l$a <- ", "v[", "attr(v, ",
                   "set.seed(", "runif(", "sample(", "rnorm(", "options(digits = ",
                   "library(MASS)", "fractions(", "ginv(", "function(a) a ", "f(", "cat(",
                   "message(", "stop(", "nothere", "rm(", "assign(", "warning("):
        assert needle in text, needle


def test_fresh_runs_of_generated_documents_are_deterministic():
    for seed in (3, 11, 19):
        doc = [(c.id, c.code) for c in generate_session(seed, 8).steps[-1].doc]
        a = run_reference(doc, probe=open(HERE / "probe.R").read())
        b = run_reference(doc, probe=open(HERE / "probe.R").read())
        assert a == b


# ---- driver: what each cell shows ----

class StubClient:
    def __init__(self, messages):
        self.session = Session()
        self.iopub = queue.Queue()
        self.shell = queue.Queue()
        self.shell_channel = self
        self.script = messages
        self.sent = []

    def send(self, msg):
        self.sent.append(msg)
        for msg_type, content, to_shell, own_parent in self.script:
            parent = msg if own_parent else self.session.msg("comm_msg", {})
            m = self.session.msg(msg_type, content, parent=parent)
            (self.shell if to_shell else self.iopub).put(m)

    def get_iopub_msg(self, timeout=None):
        return self.iopub.get(timeout=timeout)

    def get_shell_msg(self, timeout=None):
        return self.shell.get(timeout=timeout)


def disp(kind, did, text):
    return (kind, {"data": {"text/plain": text}, "metadata": {},
                   "transient": {"display_id": did}}, False, True)


def test_driver_tracks_the_latest_display_per_cell_whatever_the_parent():
    script = [
        ("status", {"execution_state": "busy"}, False, True),
        ("stream", {"name": "stdout", "text": "live\n"}, False, True),
        ("clear_output", {"wait": True}, False, True),
        disp("display_data", "ripple-a", "A1"),
        disp("display_data", "ripple-b", "B1"),
        disp("update_display_data", "ripple-a", "A2"),
        disp("display_data", "other-c", "C"),
        ("execute_result", {"data": {"text/plain": "R"}, "metadata": {}, "execution_count": 1},
         False, True),
        (*disp("update_display_data", "ripple-b", "B-from-elsewhere")[:3], False),
        ("status", {"execution_state": "idle"}, False, True),
        ("execute_reply", {"status": "error", "execution_count": 1}, True, True),
    ]
    driver = KernelDriver(StubClient(script), timeout=5)
    res = driver.execute_cell("a", "code", deleted=["z"])
    sent = driver.kc.sent[0]
    assert sent["metadata"] == {"cellId": "a", "deletedCells": ["z"]}
    assert driver.shown == {"a": "A2", "b": "B-from-elsewhere"}
    assert res.status == "error"
    assert len(res.displays_for("ripple-a")) == 1
    assert res.stream_text() == "live\n"
    assert len(driver.stray) == 1


def test_driver_times_out_instead_of_hanging():
    from driver import KernelFailure
    driver = KernelDriver(StubClient([]), timeout=0.5)
    with pytest.raises(KernelFailure, match="no reply and idle"):
        driver.execute_cell("a", "x")


# ---- whole sessions against fake kernels ----

def test_a_correct_kernel_passes():
    for seed in (1, 2, 3):
        res = run_session(seed, 6, kernel_factory=lambda: fake_kernel("perfect"))
        assert not res.divergent and not res.harness_error, res.report
        assert res.steps_run == 7


def test_a_kernel_that_reruns_nothing_is_caught_with_a_replayable_report():
    found = None
    for seed in range(1, 15):
        res = run_session(seed, 8, kernel_factory=lambda: fake_kernel("stale"))
        assert not res.harness_error, res.report
        if res.divergent:
            found = res
            break
    assert found is not None, "a kernel without reruns went unnoticed for 14 sessions"
    rep = found.report
    step = int(re.search(r"DIVERGENCE: seed \d+, step (\d+)", rep).group(1))
    assert f"--seed {found.seed} --steps {step} --verbose" in rep
    assert "operations so far:" in rep and "current document" in rep
    assert "expected: " in rep and "actual:   " in rep
    assert found.steps_run == step + 1
    # replaying exactly that prefix reproduces the same divergence
    again = run_session(found.seed, step, kernel_factory=lambda: fake_kernel("stale"))
    assert again.report == found.report


def test_a_wrong_output_is_reported_at_the_step_it_happens():
    session = generate_session(5, 8)
    n, target = 0, None
    for step in session.steps:
        for action in step.actions:
            if action.kind == "execute":
                n += 1
                if n == 7 and target is None:
                    target = step
    res = run_session(5, 8, kernel_factory=lambda: fake_kernel("corrupt:7"))
    assert res.divergent
    assert f"DIVERGENCE: seed 5, step {target.index}\n" in res.report
    assert "<corrupted>" in res.report


def test_a_kernel_without_the_engine_fails_at_step_0():
    res = run_session(9, 3, kernel_factory=lambda: fake_kernel("silent"))
    assert res.divergent and "step 0" in res.report
    assert "nothing: no display_data/update_display_data with display_id ripple-cell-1" in res.report
    assert "(expected exactly 1)" in res.report


def test_a_hanging_kernel_is_a_divergence_not_a_hang():
    res = run_session(4, 3, timeout=1.0, kernel_factory=lambda: fake_kernel("hang"))
    assert res.divergent and "kernel: no reply and idle within 1s" in res.report


# ---- command line ----

def cli(*args):
    return subprocess.run([PYTHON, str(HERE / "differential.py"), *args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)


def test_cli_passes_and_summarizes():
    proc = cli("--fake", "perfect", "--sessions", "2", "--steps", "2", "--seed", "40",
               "--jobs", "2")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.rstrip().endswith("differential: 2 sessions, 6 steps, 0 divergences")


def test_cli_fails_on_divergence_and_stops_on_first():
    proc = cli("--fake", "silent", "--sessions", "3", "--steps", "2", "--stop-on-first")
    assert proc.returncode == 1
    assert proc.stdout.count("DIVERGENCE:") == 1
    assert "differential: 1 sessions, 1 steps, 1 divergences" in proc.stdout
