#!/usr/bin/python3
"""widget_bench.py: bytes a notebook receives for htmlwidgets and htmltools outputs, ripple vs IRkernel in one run.

For each kernel and each cell: the size of the displayed bundle's text/html and of the whole message content (what
the front end receives and the notebook file stores), and the round trip (send -> reply and idle) of the cell's second
run. Both kernels inline every dependency (repr's repr_html); ripple replaces a widget whose own HTML is over
options(ripple.html.max_bytes) (1.5 MB) by a one-line note.
Prints a table with ratios and writes bench/results/widget_bench.json.
Run with Debian's Python:  /usr/bin/python3 bench/widget_bench.py
"""

import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "kernel"))

from kernel_env import KernelEnv, execute  # noqa: E402

LABELS = {"ripple": "ripple", "ir": "IRkernel"}
CELLS = [
    ("dt_head_iris", "DT::datatable(head(iris))"),
    ("dt_100k_rows", "DT::datatable(data.frame(id = seq_len(1e5), x = round(sin(seq_len(1e5)), 4), "
                     "g = rep(letters, length.out = 1e5)))"),
    ("tag_div", 'htmltools::tags$div(class = "note", "hi")'),
    ("html_string", 'htmltools::HTML("<b>bold</b>")'),
]


def measure(kenv, name):
    out = {}
    with kenv.start(name, timeout=60) as (_km, kc):
        execute(kc, "invisible(loadNamespace('DT'))", timeout=60)
        for key, code in CELLS:
            execute(kc, code, timeout=300)  # the first display of a kind loads packages (repr, bslib, ...)
            t0 = time.monotonic()
            res = execute(kc, code, timeout=300)
            elapsed = time.monotonic() - t0
            shown = [m for m in res.outputs if m["msg_type"] in ("display_data", "execute_result")]
            data = shown[-1]["content"]["data"] if shown else {}
            out[key] = {"html_bytes": len(data.get("text/html", "").encode()),
                        "content_bytes": sum(len(json.dumps(m["content"]).encode()) for m in shown),
                        "mime_types": sorted(data), "round_trip_s": round(elapsed, 2)}
    return out


def main():
    results = {}
    with KernelEnv(["ripple", "ir"]) as kenv:
        for name in ("ripple", "ir"):
            results[name] = measure(kenv, name)
    print(f"{'cell':<14} {'metric':<14} {'ripple':>12} {'IRkernel':>12} {'ratio':>7}")
    for key, _code in CELLS:
        for metric in ("html_bytes", "content_bytes", "round_trip_s"):
            a, b = results["ripple"][key][metric], results["ir"][key][metric]
            ratio = f"{a / b:.2f}" if b else "-"
            print(f"{key:<14} {metric:<14} {a:>12} {b:>12} {ratio:>7}")
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "host": platform.node(),
              "cells": dict(CELLS), "results": {LABELS[k]: v for k, v in results.items()}}
    path = HERE / "results" / "widget_bench.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written {path}")


if __name__ == "__main__":
    main()
