#!/usr/bin/python3
"""socket_fuzz_bench.py: ripple vs IRkernel under the same socket fuzzer (tests/kernel/socket_fuzz.py), same seeds.

For each kernel and seed: how many fuzz messages were sent before the kernel died (or all of them), and whether it
survived with its session intact (alive, heartbeat, kernel_info, a variable set before the fuzz, no badly signed
marker run, a replayed increment run once). Writes bench/results/socket_fuzz.json.
Run with Debian's Python:  /usr/bin/python3 bench/socket_fuzz_bench.py [--seeds 1 2 3] [--messages 20000]
"""

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "kernel"))

from kernel_env import KernelEnv  # noqa: E402
from socket_fuzz import Fuzzer, check_survivor, prepare  # noqa: E402

LABELS = {"ripple": "ripple", "ir": "IRkernel"}


def fuzz_once(kernel, seed, messages, seconds):
    with KernelEnv([kernel]) as env, env.start(kernel) as (km, _kc):
        fuzzer = Fuzzer(km.get_connection_info(), seed=seed)
        try:
            prepare(fuzzer.raw)
            t0 = time.monotonic()
            sent = fuzzer.run(messages, seconds)
            elapsed = time.monotonic() - t0
            problems = check_survivor(fuzzer, km.is_alive)
        finally:
            fuzzer.close()
    return {"kernel": kernel, "seed": seed, "sent": sum(sent.values()), "seconds": round(elapsed, 1),
            "survived": not problems, "problems": problems}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    runs = [fuzz_once(kernel, seed, args.messages, args.seconds) for seed in args.seeds for kernel in LABELS]
    print(f"{'kernel':10} {'seed':>5} {'sent':>7} {'survived':>9}  problems")
    for r in runs:
        print(f"{LABELS[r['kernel']]:10} {r['seed']:>5} {r['sent']:>7} {str(r['survived']):>9}  {'; '.join(r['problems'])}")
    for kernel, label in LABELS.items():
        mine = [r for r in runs if r["kernel"] == kernel]
        print(f"{label}: survived {sum(r['survived'] for r in mine)} of {len(mine)} runs")
    out = HERE / "results" / "socket_fuzz.json"
    out.write_text(json.dumps({"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "messages": args.messages, "runs": runs}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
