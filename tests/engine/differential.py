#!/usr/bin/python3
# differential.py: the engine's differential test: random edit sessions through the real kernel, checked after every step against a fresh Rscript run of the current cells (outputs per cell, probe of the visible state).
# Knows the kernel protocol (via driver.py) and the oracle (via oracle.py); must not know how ripple's engine works inside.
"""Differential test of ripple's engine.

    /usr/bin/python3 tests/engine/differential.py --sessions N --steps M --seed S \
        [--jobs J] [--verbose] [--stop-on-first]

Session i uses seed S+i; a session is step 0 (the initial notebook, executed top to bottom)
plus M random edit steps. After every step: for every cell of the current document, the output
shown for it (latest display_data/update_display_data with display_id "ripple-<id>") equals
its composite in a fresh `Rscript --vanilla` run of the document; the execute_reply status of
the requested cell matches (error iff the fresh run's cell raised one); each tracked execute
publishes exactly one display_data for its own id; and the probe (probe.R, an anonymous cell)
prints the same as at the end of the fresh run. A session stops at its first divergent step,
which is reported once with the command to replay it. Exit status 1 when anything diverged.

Environment: RIPPLE_BUILD_DIR (kernel build tree, as for tests/kernel), RIPPLE_RSCRIPT.
"""

import argparse
import concurrent.futures
import difflib
import multiprocessing
import os
import random
import shlex
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "kernel"))

from driver import DISPLAY_PREFIX, KernelDriver, KernelFailure  # noqa: E402
from generator import generate_session  # noqa: E402
from oracle import OracleCache, extract_probe, probe_code  # noqa: E402

PYTHON = "/usr/bin/python3"


# ---------------------------------------------------------------------------------------------
# Checking one step
# ---------------------------------------------------------------------------------------------

@dataclass
class Mismatch:
    kind: str            # output | status | protocol | probe | kernel | harness
    cell_id: str = None
    expected: str = None
    actual: str = None
    text: str = None

    def render(self):
        if self.kind == "output":
            actual = (repr(self.actual) if self.actual is not None else
                      f"nothing: no display_data/update_display_data with display_id "
                      f"{DISPLAY_PREFIX}{self.cell_id} was published")
            lines = [f"cell {self.cell_id}: output shown differs from the fresh run",
                     f"    expected: {self.expected!r}",
                     f"    actual:   {actual}"]
            if self.actual is not None and ("\n" in self.expected.rstrip("\n")
                                            or "\n" in self.actual.rstrip("\n")):
                lines += ["    diff (- expected, + actual):"]
                lines += ["      " + d.rstrip("\n") for d in difflib.unified_diff(
                    self.expected.splitlines(True), self.actual.splitlines(True),
                    "expected", "actual", n=1, lineterm="")][2:]
            return "\n".join(lines)
        if self.kind == "probe":
            diff = difflib.unified_diff((self.expected or "").splitlines(),
                                        (self.actual or "<no probe output>").splitlines(),
                                        "expected (fresh Rscript)", "actual (kernel)",
                                        n=0, lineterm="")
            return "probe (state visible to the next cell) differs:\n" + "\n".join(
                "    " + d for d in diff)
        if self.kind == "status":
            return (f"cell {self.cell_id}: execute_reply status {self.actual!r}, expected "
                    f"{self.expected!r} (the fresh run's cell "
                    f"{'raised' if self.expected == 'error' else 'raised no'} error)")
        return f"{self.kind}: {self.text}"


def check_step(step, results, driver, probe_res, ref):
    """All mismatches between what the kernel shows after a step and the fresh run."""
    out = []
    for cell in step.doc:
        expected = ref.composites[cell.id]
        actual = driver.shown.get(cell.id)
        if actual != expected:
            out.append(Mismatch("output", cell.id, expected, actual))
    for action, res in zip(step.actions, results):
        if action.kind != "execute":
            continue
        own = res.displays_for(DISPLAY_PREFIX + action.cell_id)
        if len(own) != 1:
            out.append(Mismatch("protocol", action.cell_id, text=(
                f"execute of {action.cell_id} published {len(own)} display_data with "
                f"display_id {DISPLAY_PREFIX}{action.cell_id} (expected exactly 1)")))
    last, last_res = step.actions[-1], results[-1]
    if last.kind == "execute":
        expected = "error" if ref.errors[last.cell_id] else "ok"
        if last_res.status != expected:
            out.append(Mismatch("status", last.cell_id, expected, last_res.status))
    actual_probe = extract_probe(probe_res.stream_text())
    if actual_probe is None or probe_res.status != "ok":
        actual_probe = (f"<probe failed: status {probe_res.status}; stdout "
                        f"{probe_res.stream_text()!r}; stderr {probe_res.stream_text('stderr')!r}; "
                        f"{probe_res.summary()}>")
    if actual_probe != ref.probe:
        out.append(Mismatch("probe", expected=ref.probe, actual=actual_probe))
    return out


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------

def replay_command(seed, steps):
    env = ""
    if os.environ.get("RIPPLE_BUILD_DIR"):
        env = f"RIPPLE_BUILD_DIR={shlex.quote(os.environ['RIPPLE_BUILD_DIR'])} "
    return f"{env}{PYTHON} {HERE / 'differential.py'} --seed {seed} --steps {steps} --verbose"


def format_document(doc, indent="  "):
    lines = [f"{indent}current document ({len(doc)} cells, in order):"]
    for pos, cell in enumerate(doc):
        lines.append(f"{indent}  [{pos}] {cell.id}:")
        lines += [f"{indent}        {line}" for line in cell.code.split("\n")]
    return lines


def format_report(session, step, mismatches, results=(), probe_res=None, notes=(),
                  expected=None, stderr_tail=()):
    bar = "=" * 78
    lines = [bar, f"DIVERGENCE: seed {session.seed}, step {step.index}",
             f"  replay: {replay_command(session.seed, step.index)}",
             "  operations so far:"]
    lines += [f"    {s.describe(code=True)}" for s in session.steps[:step.index + 1]]
    lines += format_document(step.doc)
    lines.append("  differences:")
    for m in mismatches:
        lines += ["    " + line for line in m.render().split("\n")]
    if results or probe_res is not None:
        lines.append("  kernel messages of this step:")
        for action, res in zip(step.actions, results):
            lines.append(f"    {action.describe()}: {res.summary(width=160)}")
        if probe_res is not None:
            lines.append(f"    probe: status={probe_res.status}")
    if expected is not None:
        same = [c.id for c in step.doc
                if not any(m.kind == "output" and m.cell_id == c.id for m in mismatches)]
        if same:
            lines.append(f"  cells whose output matches: {', '.join(same)}")
    for note in dict.fromkeys(notes):
        lines.append(f"  note: {note}")
    if stderr_tail:
        lines.append("  kernel stderr (last lines):")
        lines += [f"    | {line}" for line in stderr_tail]
    lines.append(bar)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------------

@dataclass
class SessionResult:
    seed: int
    steps_run: int = 0
    divergent: bool = False
    harness_error: bool = False
    report: str = None
    elapsed: float = 0.0
    oracle_runs: int = 0
    log: list = field(default_factory=list)


def run_session(seed, steps, verbose=False, timeout=60.0, log=None, kernel_factory=None,
                keep_going=False):
    """Run one session. kernel_factory() -> context manager yielding (km, kc); default: a
    fresh ripple kernel in a temporary Jupyter prefix (tests/kernel/kernel_env.py).
    A session stops at its first divergent step unless keep_going (then it still reports
    only that first one)."""
    result = SessionResult(seed)
    emit = log if log is not None else result.log.append
    t0 = time.monotonic()
    session = generate_session(seed, steps)
    probe = probe_code()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    cache = OracleCache(pool, probe)
    for st in session.steps:          # fresh runs start now and overlap with the kernel's work
        cache.submit([(c.id, c.code) for c in st.doc])
    if kernel_factory is None:
        kernel_factory = _default_kernel
    step = None
    try:
        with kernel_factory() as (km, kc):
            driver = KernelDriver(kc, km, timeout=timeout)
            for step in session.steps:
                if verbose:
                    emit(f"[seed {seed}] {step.describe(code=True)}")
                results = []
                try:
                    for action in step.actions:
                        if action.kind == "execute":
                            res = driver.execute_cell(action.cell_id, action.code, action.deleted)
                        else:
                            res = driver.send_notebook([(c.id, c.code) for c in action.notebook])
                        results.append(res)
                        if verbose:
                            emit(f"    {action.describe()}: {res.summary()}")
                    probe_res = driver.probe(probe)
                except KernelFailure as exc:
                    result.steps_run = step.index + 1
                    if not result.divergent:
                        result.divergent = True
                        result.report = format_report(
                            session, step, [Mismatch("kernel", text=str(exc))], results, None,
                            driver_notes(driver), stderr_tail=kernel_stderr_tail(km))
                    return result
                ref = cache.get([(c.id, c.code) for c in step.doc])
                mismatches = check_step(step, results, driver, probe_res, ref)
                result.steps_run = step.index + 1
                if verbose:
                    for c in step.doc:
                        shown = driver.shown.get(c.id)
                        if shown == ref.composites[c.id]:
                            emit(f"    ok   {c.id}: {shown!r}")
                        else:
                            emit(f"    DIFF {c.id}: expected {ref.composites[c.id]!r}, "
                                 f"shown {shown!r}")
                    emit(f"    probe {'ok' if not any(m.kind == 'probe' for m in mismatches) else 'DIFF'}")
                if mismatches and not result.divergent:
                    result.divergent = True
                    result.report = format_report(session, step, mismatches, results,
                                                  probe_res, driver_notes(driver), expected=ref,
                                                  stderr_tail=kernel_stderr_tail(km))
                    if not keep_going:
                        return result
    except Exception as exc:  # the harness or the kernel start failed: not a verdict
        result.harness_error = True
        where = f"step {step.index}" if step is not None else "start"
        result.report = (f"HARNESS ERROR: seed {seed} at {where}: {exc!r}\n"
                         f"{traceback.format_exc()}"
                         f"  replay: {replay_command(seed, step.index if step else 0)}")
        return result
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        result.elapsed = time.monotonic() - t0
        result.oracle_runs = cache.runs_started
    return result


class KernelStartFailure(RuntimeError):
    """The kernel died before answering kernel_info."""


def _default_kernel():
    """A fresh ripple kernel in a temporary Jupyter prefix; its stderr goes to a file whose
    tail a report shows (km.ripple_stderr_path)."""
    import contextlib
    import tempfile
    from kernel_env import KernelEnv, drain, shutdown

    @contextlib.contextmanager
    def factory():
        try:
            with _start_once() as started:
                yield started
        except KernelStartFailure as first:
            # Seen twice in 200 parallel starts and never reproduced alone: retry once, visibly.
            print(f"note: kernel start failed, retrying once: {first}", file=sys.stderr, flush=True)
            with _start_once() as started:
                yield started

    @contextlib.contextmanager
    def _start_once():
        with KernelEnv(["ripple"]) as kenv:
            with tempfile.NamedTemporaryFile(prefix="ripple-kernel-stderr-", suffix=".log",
                                             delete=False) as err:
                err_path = err.name
            try:
                with open(err_path, "wb") as err:
                    km = kenv.kernel_manager("ripple")
                    # Its own working directory: files the cells write never meet another session's.
                    km.start_kernel(stderr=err, stdout=err, cwd=str(kenv.tmp))
                km.ripple_stderr_path = err_path
                kc = km.client()
                kc.start_channels()
                try:
                    try:
                        kc.wait_for_ready(timeout=60)
                    except RuntimeError as exc:
                        tail = "\n".join(kernel_stderr_tail(km, lines=30))
                        raise KernelStartFailure(f"{exc}; kernel stderr:\n{tail}") from exc
                    drain(kc)
                    yield km, kc
                finally:
                    shutdown(km, kc)
            finally:
                os.unlink(err_path)
    return factory()


def driver_notes(driver):
    """Protocol notes for a report: the driver's, plus iopub messages that arrived outside the
    busy/idle window of the request that caused them (e.g. reruns published after idle)."""
    notes = list(driver.notes)
    if driver.stray:
        kinds = ", ".join(f"{m['msg_type']} (parent {m['parent_header'].get('msg_type')})"
                          for m in driver.stray[-5:])
        notes.append(f"{len(driver.stray)} iopub message(s) arrived outside their request's "
                     f"busy/idle window; last: {kinds}")
    return notes


def kernel_stderr_tail(km, lines=12):
    path = getattr(km, "ripple_stderr_path", None)
    if not path:
        return []
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _factory(fake):
    if not fake:
        return None
    from fake_kernel import fake_kernel
    return lambda: fake_kernel(fake)


def _worker(args):
    seed, steps, verbose, timeout, fake, keep_going = args
    return run_session(seed, steps, verbose=verbose, timeout=timeout,
                       kernel_factory=_factory(fake), keep_going=keep_going)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=1, help="number of sessions (default 1)")
    ap.add_argument("--steps", type=int, default=8,
                    help="edit steps per session after the initial notebook (default 8)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the first session (default 1)")
    ap.add_argument("--jobs", type=int, default=1, help="sessions run in parallel (default 1)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per kernel request")
    ap.add_argument("--verbose", action="store_true", help="log every step and every check")
    ap.add_argument("--stop-on-first", action="store_true",
                    help="stop after the first divergent session")
    ap.add_argument("--max-reports", type=int, default=5,
                    help="full reports printed (default 5); later divergent sessions get a "
                         "one-line summary with their replay command")
    ap.add_argument("--keep-going", action="store_true",
                    help="run every step of a divergent session (still reported once), "
                         "e.g. to measure full-session runtime")
    ap.add_argument("--fake", metavar="MODE", default=None,
                    help="harness self-test only: run against fake_kernel.py in MODE "
                         "(perfect, stale, corrupt:N, silent, hang) instead of ripple")
    ap.add_argument("--no-shared-cache", action="store_true",
                    help="give every session its own empty cache instead of one cache shared by all")
    args = ap.parse_args(argv)
    if args.sessions < 1 or args.steps < 0 or args.jobs < 1:
        ap.error("--sessions and --jobs must be >= 1, --steps >= 0")
    shared_cache = None
    if not args.no_shared_cache and not os.environ.get("RIPPLE_CACHE_DIR"):
        # One persistent cache for all sessions: every entry a session leaves is a chance for a later
        # session to be served a wrong (false-hit) result, which the fresh Rscript run would expose.
        import tempfile
        shared_cache = tempfile.mkdtemp(prefix="ripple-differential-cache-")
        os.environ["RIPPLE_CACHE_DIR"] = shared_cache
        print(f"sessions share one cache: RIPPLE_CACHE_DIR={shared_cache} (a replay with the same "
              f"--seed and --sessions reproduces its contents)", flush=True)

    t0 = time.monotonic()
    seeds = [args.seed + i for i in range(args.sessions)]
    # Sessions in a shuffled (seeded) order, so the entries one leaves in the shared cache are offered to sessions
    # generated before and after it.
    random.Random(args.seed).shuffle(seeds)
    done, divergent, errors, total_steps, per_session = 0, 0, 0, 0, []

    def account(res):
        nonlocal done, divergent, errors, total_steps
        done += 1
        total_steps += res.steps_run
        per_session.append(res.elapsed)
        for line in res.log:
            print(line)
        verdict = ("DIVERGED" if res.divergent else "HARNESS ERROR" if res.harness_error
                   else "ok")
        print(f"session seed {res.seed}: {verdict} ({res.steps_run} steps, "
              f"{res.oracle_runs} fresh runs, {res.elapsed:.1f}s)", flush=True)
        if res.report:
            if divergent + errors < args.max_reports:
                print(res.report, flush=True)
            else:
                head = res.report.strip("=\n").split("\n")
                print(f"  {head[0]} (full report omitted: --max-reports {args.max_reports})\n"
                      f"  {head[1].strip()}", flush=True)
        divergent += res.divergent
        errors += res.harness_error
        return res.divergent or res.harness_error

    if args.jobs == 1:
        for seed in seeds:
            res = run_session(seed, args.steps, verbose=args.verbose, timeout=args.timeout,
                              log=print if args.verbose else None,
                              kernel_factory=_factory(args.fake), keep_going=args.keep_going)
            if account(res) and args.stop_on_first:
                break
    else:
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=ctx) as ex:
            futures = [ex.submit(_worker, (s, args.steps, args.verbose, args.timeout, args.fake,
                                         args.keep_going))
                       for s in seeds]
            for fut in concurrent.futures.as_completed(futures):
                if account(fut.result()) and args.stop_on_first:
                    for f in futures:
                        f.cancel()
                    break

    elapsed = time.monotonic() - t0
    if shared_cache:
        import shutil
        shutil.rmtree(shared_cache, ignore_errors=True)
    mean = sum(per_session) / len(per_session) if per_session else 0.0
    print(f"timing: {elapsed:.1f}s wall, {mean:.2f}s per session on average, jobs={args.jobs}")
    if errors:
        print(f"harness errors: {errors} (see HARNESS ERROR above)")
    print(f"differential: {done} sessions, {total_steps} steps, {divergent} divergences")
    return 1 if divergent or errors else 0


if __name__ == "__main__":
    sys.exit(main())
