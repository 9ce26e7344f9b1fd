# cache_driver.py: runs the cache_stress driver (one process or several at once) and reads its JSON summary and
# its warning lines. Shared by the cache reliability tests; knows nothing of the store beyond the driver's output.
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

STRESS = os.environ.get("RIPPLE_CACHE_STRESS") or str(
    Path(os.environ.get("RIPPLE_BUILD_DIR", Path(__file__).resolve().parents[2] / "build")) / "bin" / "cache_stress")


@dataclass
class Result:
    returncode: int
    summary: dict
    warnings: list = field(default_factory=list)
    stderr: str = ""
    summaries: list = field(default_factory=list)  # every summary line, when one command ran the driver twice

    def describe(self):
        return f"exit {self.returncode}, summary {self.summary}, stderr:\n{self.stderr[-3000:]}"


def command(mode, directory, **flags):
    argv = [STRESS, mode, str(directory)]
    for name, value in flags.items():
        argv += ["--" + name.replace("_", "-"), str(value)]
    return argv


def start(mode, directory, prefix=(), preexec_fn=None, **flags):
    """Starts the driver; `prefix` wraps it (e.g. unshare + mount commands)."""
    return subprocess.Popen(list(prefix) + command(mode, directory, **flags), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)


def finish(process, timeout=240):
    out, err = process.communicate(timeout=timeout)
    summaries = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    warnings = [line[len("warning: "):] for line in err.splitlines() if line.startswith("warning: ")]
    return Result(process.returncode, summaries[-1] if summaries else {}, warnings, err, summaries)


def run(mode, directory, prefix=(), preexec_fn=None, timeout=240, **flags):
    return finish(start(mode, directory, prefix, preexec_fn, **flags), timeout)


def value_files(directory):
    return sorted(p for p in (Path(directory) / "values").rglob("*") if p.is_file())


def check_clean(result, expect_warnings=None):
    """No wrong value, no escaped exception, no crash; each warning one line starting 'ripple cache:'."""
    assert result.returncode == 0, result.describe()
    assert result.summary.get("wrong") == 0, result.describe()
    for line in result.warnings:
        assert line.startswith("ripple cache: "), line
    if expect_warnings is not None:
        assert len(result.warnings) == expect_warnings, result.describe()
