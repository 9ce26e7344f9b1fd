#!/usr/bin/python3
# hash_bench.py: runs bench/hash_bench (value hashing by streaming R's serialization into SHA-256) beside
# digest::digest(x, "sha256") in the same R session, prints the ratios and writes bench/results/hash_bench.json.
# Knows only the executable's JSON output; asserts nothing about time (benchmarks are not tests).
"""Value hash benchmark.

    /usr/bin/python3 bench/hash_bench.py [--mb 200] [--rows 1000000] [--repeats 5]

Values: a numeric vector of --mb megabytes (runif) and a data.frame of --rows rows (integer, two doubles,
character, factor, logical columns). For each: median of --repeats runs of
- value_hash, binary (native) serialization streamed into SHA-256 (what the cache uses);
- value_hash with R's XDR format (the portable one, for comparison);
- serialize_value (the bytes the cache stores);
- SHA-256 of the vector's raw memory (the ceiling: hashing without any serialization);
- digest::digest(x, "sha256") (serializes to a raw vector first, then hashes).
MB/s are serialized bytes per second for all of them. Needs a built build/bin/hash_bench
(RIPPLE_BUILD_DIR selects another build tree).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    build = Path(os.environ.get("RIPPLE_BUILD_DIR", HERE.parent / "build"))
    exe = build / "bin" / "hash_bench"
    if not exe.exists():
        sys.exit(f"hash_bench: {exe} is not built (cmake --build {build} --target hash_bench)")
    load_before = os.getloadavg()[0]
    out = subprocess.run([str(exe), "--mb", str(args.mb), "--rows", str(args.rows), "--repeats", str(args.repeats),
                          "--json"], check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    try:
        commit = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = ""
    report.update({"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(), "commit": commit,
                   "load_average_before": load_before, "load_average_after": os.getloadavg()[0]})

    print(f"{'value':<52} {'value_hash':>12} {'xdr':>9} {'to bytes':>9} {'sha ceiling':>12} {'digest':>9} {'ratio':>7}")
    for r in report["results"]:
        ceiling = r.get("sha256_of_memory_MBps")
        print(f"{r['value']:<52} {r['value_hash_native_MBps']:>9.0f} MB/s {r['value_hash_xdr_MBps']:>6.0f}"
              f" {r['serialize_value_MBps']:>9.0f} {(f'{ceiling:.0f}' if ceiling else '-'):>12}"
              f" {r['digest_sha256_MBps']:>9.0f} {r['speedup_vs_digest']:>6.1f}x")
    print(f"(MB/s of serialized bytes, median of {args.repeats}; ratio = digest time / value_hash time;"
          f" load average {load_before:.1f} before the run)")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "hash_bench.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
