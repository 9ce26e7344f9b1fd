"""oracle.py: runs the reference (reference.R in a fresh `Rscript --vanilla`) on a document and returns each cell's expected composite text and the expected probe output.
Knows the record format of reference.R and nothing about the kernel, Jupyter or the generator.
"""

import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE_R = HERE / "reference.R"
PROBE_R = HERE / "probe.R"
RSCRIPT = os.environ.get("RIPPLE_RSCRIPT", "Rscript")

PROBE_BEGIN = "<<ripple-probe>>"
PROBE_END = "<<end-probe>>"


def probe_code() -> str:
    return PROBE_R.read_text(encoding="utf-8")


def extract_probe(text: str):
    """The probe's own lines from a stream text (None when the markers are missing)."""
    start = text.find(PROBE_BEGIN)
    if start < 0:
        return None
    end = text.find(PROBE_END, start)
    if end < 0:
        return None
    return text[start + len(PROBE_BEGIN):end].strip("\n")


# ---- record format shared with reference.R: "<key> <nbytes>\n<bytes>\n" ----

def encode_records(records) -> bytes:
    out = bytearray()
    for key, value in records:
        if " " in key or "\n" in key:
            raise ValueError(f"bad record key {key!r}")
        data = value.encode("utf-8")
        out += f"{key} {len(data)}\n".encode("ascii") + data + b"\n"
    return bytes(out)


def decode_records(blob: bytes):
    records, pos = [], 0
    while pos < len(blob):
        nl = blob.index(b"\n", pos)
        key, length = blob[pos:nl].decode("ascii").split(" ")
        start = nl + 1
        end = start + int(length)
        if blob[end:end + 1] != b"\n":
            raise ValueError(f"record {key!r}: bad length {length}")
        records.append((key, blob[start:end].decode("utf-8")))
        pos = end + 1
    return records


@dataclass
class Reference:
    """What a fresh run of a document produced."""
    composites: dict = field(default_factory=dict)   # cell id -> composite text
    errors: dict = field(default_factory=dict)       # cell id -> True when the cell raised an error
    probe: str = None                                # probe lines (between the markers)
    probe_raw: str = None                            # the probe's whole composite


class OracleError(RuntimeError):
    pass


def run_reference(cells, probe=None, timeout=60) -> Reference:
    """cells: sequence of (id, code) in document order. Runs them in a fresh Rscript."""
    records = []
    for cell_id, code in cells:
        records.append(("cell", cell_id))
        records.append(("code", code))
    if probe is not None:
        records.append(("probe", probe))
    with tempfile.TemporaryDirectory(prefix="ripple-oracle-") as tmp:
        inp, out = Path(tmp) / "in.rec", Path(tmp) / "out.rec"
        inp.write_bytes(encode_records(records))
        proc = subprocess.run([RSCRIPT, "--vanilla", str(REFERENCE_R), str(inp), str(out)],
                              cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout)
        if proc.returncode != 0 or not out.exists():
            raise OracleError(f"reference.R failed (exit {proc.returncode}): "
                                  f"{proc.stderr.decode('utf-8', 'replace')[-2000:]}")
        recs = decode_records(out.read_bytes())
    if not recs or recs[-1][0] != "done":
        raise OracleError("reference.R output is truncated")
    ref, current = Reference(), None
    for key, value in recs[:-1]:
        if key == "cell":
            current = value
        elif key == "composite":
            ref.composites[current] = value
        elif key == "error":
            ref.errors[current] = value == "TRUE"
        elif key == "probe":
            ref.probe_raw = value
            ref.probe = extract_probe(value)
    expected_ids = [c for c, _ in cells]
    if list(ref.composites) != expected_ids:
        raise OracleError(f"reference.R answered for {list(ref.composites)}, "
                              f"asked {expected_ids}")
    return ref


class OracleCache:
    """Memoizes fresh runs by document content (codes in order; ids only label the answer).

    Thread-safe; `submit` starts runs in the background on an executor so they overlap with the
    kernel's work, `get` waits for one.
    """

    def __init__(self, executor=None, probe=None):
        self.executor = executor
        self.probe = probe_code() if probe is None else probe
        self._lock = threading.Lock()
        self._runs = {}
        self.runs_started = 0

    def _key(self, cells):
        return tuple(code for _, code in cells)

    def _start(self, codes):
        cells = [(f"c{i}", code) for i, code in enumerate(codes)]
        self.runs_started += 1
        if self.executor is None:
            try:
                return ("done", run_reference(cells, self.probe))
            except Exception as exc:  # kept and re-raised by get()
                return ("failed", exc)
        return ("future", self.executor.submit(run_reference, cells, self.probe))

    def submit(self, cells):
        key = self._key(cells)
        with self._lock:
            if key not in self._runs:
                self._runs[key] = self._start(key)

    def get(self, cells) -> Reference:
        key = self._key(cells)
        self.submit(cells)
        with self._lock:
            kind, value = self._runs[key]
        if kind == "future":
            value = value.result()
        elif kind == "failed":
            raise value
        ref = Reference(probe=value.probe, probe_raw=value.probe_raw)
        for i, (cell_id, _) in enumerate(cells):
            ref.composites[cell_id] = value.composites[f"c{i}"]
            ref.errors[cell_id] = value.errors[f"c{i}"]
        return ref
