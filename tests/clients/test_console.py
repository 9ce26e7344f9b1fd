"""test_console.py: `jupyter console --kernel ripple` in tmux: a cell runs, Tab completes, Ctrl-D exits with its kernel.
Must not know ripple's internals: it types keys and reads the screen, as a user at a terminal does."""

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jupyter_home import PYTHON, jupyter_home, kernel_pids  # noqa: E402

WAIT = 60.0  # bound for the screen to show something; not a performance assertion


class Terminal:
    """A tmux server of our own (private socket) running one command in a 160x40 window."""

    def __init__(self, command, env):
        self.socket = f"ripple-test-{uuid.uuid4().hex[:12]}"
        self.env = env
        self.tmux("-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "40", "-s", "main", command)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, *args], env=self.env, check=True, capture_output=True,
                              text=True, timeout=30).stdout

    def screen(self):
        return self.tmux("capture-pane", "-p", "-J", "-t", "main")

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "main", *keys)

    def type(self, text):
        self.tmux("send-keys", "-t", "main", "-l", text)

    def wait_for(self, predicate, what):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"the console did not show {what} within {WAIT:.0f} s; screen:\n{self.screen()}")

    def alive(self):
        return subprocess.run(["tmux", "-L", self.socket, "has-session", "-t", "main"], env=self.env,
                              capture_output=True, timeout=30).returncode == 0

    def close(self):
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True, timeout=30)


@pytest.fixture()
def console():
    with jupyter_home() as (env, dirs):
        env = dict(env, TERM="xterm-256color")
        # The console asks the kernel whether a line is complete and, after 1 s without an answer (a loaded CI
        # machine), falls back to "incomplete": Enter would then add a line instead of running it.
        command = (f"{PYTHON} -m jupyter_console --kernel ripple --ZMQTerminalInteractiveShell.kernel_is_complete_timeout=30; "
                   "echo console exited with $?; sleep 30")
        term = Terminal(command, env)
        term.runtime = dirs["runtime"]
        try:
            yield term
        finally:
            term.close()


def prompts(screen):
    return screen.count("In [")


def test_console_runs_a_cell_completes_on_tab_and_exits_with_its_kernel(console):
    console.wait_for(lambda s: "In [1]:" in s, "its first prompt")
    assert "ripple" in console.screen(), "the banner does not name the kernel"

    console.type("x <- 41; x + 1")
    console.keys("Enter")
    console.wait_for(lambda s: "[1] 42" in s and "In [2]:" in s, "the value of x + 1 and the next prompt")

    # Tab on a unique prefix completes it in place; then the completed call runs.
    console.type("seq_le")
    console.keys("Tab")
    console.wait_for(lambda s: s.rstrip().splitlines()[-1].rstrip().endswith("seq_len"), "seq_le completed to seq_len")
    console.type("(3)")
    console.keys("Enter")
    console.wait_for(lambda s: "[1] 1 2 3" in s and "In [3]:" in s, "the result of seq_len(3)")

    # Columns of a data frame complete after `$`.
    console.type("mtcars$cy")
    console.keys("Tab")
    console.wait_for(lambda s: s.rstrip().splitlines()[-1].rstrip().endswith("mtcars$cyl"), "mtcars$cy completed to mtcars$cyl")
    console.keys("C-u")

    assert kernel_pids(console.runtime), "no kernel process found for the console"
    console.keys("C-d")
    console.wait_for(lambda s: "Do you really want to exit" in s, "the exit question after Ctrl-D")
    console.keys("y", "Enter")
    console.wait_for(lambda s: "console exited with 0" in s, "a clean exit")
    console.wait_for(lambda s: not kernel_pids(console.runtime), "its kernel shut down")
