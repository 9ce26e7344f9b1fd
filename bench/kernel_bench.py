#!/usr/bin/python3
"""ripple vs IRkernel, side by side in one run.

Measures for each kernel:
  cold_start_s       process spawn -> kernel_info_reply received (median of --starts runs)
  first_exec_s       process spawn -> execute_reply of `1 + 1` sent right after kernel_info
  idle_rss_mb        VmRSS of the kernel process tree, 0.5 s after that first cell
                     (median over the same starts)
  rt_assign_add_ms   execute_request `x <- 1; x + 1`: send -> execute_reply and idle both
                     received (median of --n runs after --warmup)
  rt_head_mtcars_ms  same for `head(mtcars)`          (--n-rich runs)
  rt_plot_ms         same for `plot(1:10)`            (--n-rich runs)

Prints a table (ripple, IRkernel, ripple/IRkernel) and writes bench/results/kernel_bench.json.
Kernelspecs go to a temporary prefix (tests/kernel/kernel_env.py); nothing global is touched.
Run with Debian's Python:  /usr/bin/python3 bench/kernel_bench.py [--n 200] [--starts 7]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "kernel"))

from kernel_env import (  # noqa: E402
    KernelEnv, RawClient, kernel_pid, proc_tree_rss_kb, ripple_binary, shutdown,
)

LABELS = {"ripple": "ripple", "ir": "IRkernel"}

ROUND_TRIPS = [
    ("rt_assign_add_ms", "x <- 1; x + 1", "n"),
    ("rt_head_mtcars_ms", "head(mtcars)", "n_rich"),
    ("rt_plot_ms", "plot(1:10)", "n_rich"),
]

EXPECTED_MIME = {"rt_assign_add_ms": "text/plain", "rt_head_mtcars_ms": "text/html",
                 "rt_plot_ms": "image/png"}

METRICS = [
    ("cold_start_s", "cold start -> kernel_info_reply (s)", 1.0),
    ("first_exec_s", "cold start -> first `1 + 1` reply (s)", 1.0),
    ("idle_rss_mb", "idle RSS (MB)", 1.0),
    ("rt_assign_add_ms", "round trip `x <- 1; x + 1` (ms)", 1.0),
    ("rt_head_mtcars_ms", "round trip `head(mtcars)` (ms)", 1.0),
    ("rt_plot_ms", "round trip `plot(1:10)` (ms)", 1.0),
]


def start_and_connect(kenv, name, timeout=60):
    """Spawn the kernel; return (km, raw client, seconds from spawn to kernel_info_reply,
    seconds from spawn to the execute_reply of a first `1 + 1`)."""
    km = kenv.kernel_manager(name)
    t0 = time.perf_counter()
    km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    raw = RawClient(km.get_connection_info())
    # The request is queued by zmq until the kernel binds its shell socket; RawClient uses a
    # 10 ms reconnect interval so the connection is made promptly once it does.
    msg_id = raw.send(raw.shell, "kernel_info_request")
    got = raw.wait_reply(raw.shell, msg_id, timeout)
    if got is None:
        raw.close()
        shutdown(km, km.client())
        raise RuntimeError(f"{name}: no kernel_info_reply within {timeout}s")
    t_info = got[1] - t0
    # First cell right away: catches kernels that answer kernel_info before R is ready.
    msg_id = raw.send(raw.shell, "execute_request",
                      dict(code="1 + 1", silent=False, store_history=True, user_expressions={},
                           allow_stdin=False, stop_on_error=True))
    got = raw.wait_reply(raw.shell, msg_id, timeout)
    if got is None or got[0]["content"]["status"] != "ok":
        raw.close()
        shutdown(km, km.client())
        raise RuntimeError(f"{name}: first execute failed: {got and got[0]['content']}")
    return km, raw, t_info, got[1] - t0


def stop(km, raw):
    raw.close()
    kc = km.client()
    shutdown(km, kc)


def check_ok(name, code, reply, iopub):
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"{name}: {code!r} failed: {reply['content']}")


def bench_kernel(kenv, name, args, log):
    res = {"cold_start_s_all": [], "first_exec_s_all": [], "idle_rss_mb_all": []}
    for i in range(args.starts):
        km, raw, dt, dt_exec = start_and_connect(kenv, name)
        time.sleep(0.5)
        pid = kernel_pid(km)
        rss_mb = proc_tree_rss_kb(pid) / 1024.0 if pid else float("nan")
        res["cold_start_s_all"].append(dt)
        res["first_exec_s_all"].append(dt_exec)
        res["idle_rss_mb_all"].append(rss_mb)
        log(f"  {name} start {i + 1}/{args.starts}: kernel_info {dt:.3f}s, "
            f"first cell {dt_exec:.3f}s, RSS {rss_mb:.1f} MB")
        if i < args.starts - 1:
            stop(km, raw)
    # Keep the last kernel for round trips.
    try:
        # make sure iopub is subscribed before timing (slow joiner): wait for a busy/idle pair
        reply, iopub, _ = raw.run("invisible(0)", timeout=60)
        for key, code, n_attr in ROUND_TRIPS:
            n = getattr(args, n_attr)
            for _ in range(args.warmup):
                reply, iopub, _ = raw.run(code, timeout=120)
                check_ok(name, code, reply, iopub)
            times = []
            for _ in range(n):
                reply, iopub, dt = raw.run(code, timeout=120)
                check_ok(name, code, reply, iopub)
                times.append(dt * 1000.0)
            res[key + "_all"] = times
            mimes = sorted({f"{m['msg_type']}:{mime}" for m in iopub
                            if m["msg_type"] in ("display_data", "execute_result")
                            for mime in m["content"]["data"]})
            res[key + "_outputs"] = mimes
            want = EXPECTED_MIME[key]
            if not any(x.endswith(":" + want) for x in mimes):
                res.setdefault("warnings", []).append(f"{code!r} produced no {want}: {mimes}")
                log(f"  WARNING: {name} {code!r} produced no {want} (got {mimes})")
            log(f"  {name} {code!r}: median {statistics.median(times):.2f} ms over {n} "
                f"(outputs: {', '.join(mimes)})")
    finally:
        stop(km, raw)
    summary = {"cold_start_s": statistics.median(res["cold_start_s_all"]),
               "first_exec_s": statistics.median(res["first_exec_s_all"]),
               "idle_rss_mb": statistics.median(res["idle_rss_mb_all"])}
    for key, _code, _n in ROUND_TRIPS:
        summary[key] = statistics.median(res[key + "_all"])
        summary[key + "_p90"] = quantile(res[key + "_all"], 0.9)
    return summary, res


def quantile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def fmt(v, key):
    if v is None:
        return "n/a"
    if key.endswith("_s"):
        return f"{v:.3f}"
    return f"{v:.2f}" if v < 100 else f"{v:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--starts", type=int, default=5, help="cold starts per kernel (default 5)")
    ap.add_argument("--n", type=int, default=100,
                    help="timed `x <- 1; x + 1` round trips (default 100)")
    ap.add_argument("--n-rich", type=int, default=50,
                    help="timed head(mtcars) and plot(1:10) round trips (default 50)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed runs before each series")
    ap.add_argument("--kernels", default="ripple,ir",
                    help="comma-separated subset of ripple,ir (default both)")
    ap.add_argument("--out", default=str(HERE / "results" / "kernel_bench.json"))
    args = ap.parse_args()

    kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
    skipped = {}
    if "ripple" in kernels and not ripple_binary().exists():
        skipped["ripple"] = f"{ripple_binary()} not built"
        kernels.remove("ripple")
    if not kernels:
        sys.exit("nothing to benchmark: " + "; ".join(skipped.values()))

    def log(s):
        print(s, flush=True)

    results, raw_samples = {}, {}
    with KernelEnv(kernels) as kenv:
        # Interleave by kernel order only; each kernel runs alone (2-core machine).
        for name in kernels:
            log(f"benchmarking {LABELS[name]} ...")
            results[name], raw_samples[name] = bench_kernel(kenv, name, args, log)

    ratio = {}
    if "ripple" in results and "ir" in results:
        for key, _label, _ in METRICS:
            a, b = results["ripple"].get(key), results["ir"].get(key)
            ratio[key] = (a / b) if a is not None and b else None

    print()
    head = f"{'metric':40s} {'ripple':>10s} {'IRkernel':>10s} {'ripple/IR':>10s}"
    print(head)
    print("-" * len(head))
    for key, label, _ in METRICS:
        r = results.get("ripple", {}).get(key)
        i = results.get("ir", {}).get(key)
        q = ratio.get(key)
        print(f"{label:40s} {fmt(r, key):>10s} {fmt(i, key):>10s} "
              f"{(f'{q:.2f}' if q is not None else 'n/a'):>10s}")
    for k, why in skipped.items():
        print(f"({LABELS[k]} skipped: {why})")

    r_version = subprocess.run(["R", "--version"], capture_output=True, text=True
                               ).stdout.splitlines()[0]
    out = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "r": r_version},
        "params": {"starts": args.starts, "n": args.n, "n_rich": args.n_rich,
                   "warmup": args.warmup},
        "definitions": {
            "cold_start_s": "spawn -> kernel_info_reply, median over starts",
            "first_exec_s": "spawn -> execute_reply of a first `1 + 1` sent right after "
                            "kernel_info_reply, median over starts",
            "idle_rss_mb": "VmRSS of kernel process tree 0.5s after that first cell, median",
            "rt_*_ms": "execute_request send -> execute_reply and status idle received, median",
        },
        "results": results,
        "ratio_ripple_over_irkernel": ratio,
        "skipped": skipped,
        "samples": raw_samples,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
