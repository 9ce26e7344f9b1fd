"""test_socket_fuzz.py: 20,000 seeded messages of garbage, forgeries, replays and huge frames on every socket of a
ripple kernel, bounded in time; the kernel must survive with its session intact and run nothing unverified."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kernel_env import KernelEnv  # noqa: E402
from socket_fuzz import Fuzzer, check_survivor, prepare  # noqa: E402


def test_kernel_survives_the_socket_fuzzer():
    with KernelEnv(["ripple"]) as env, env.start("ripple") as (km, _kc):
        fuzzer = Fuzzer(km.get_connection_info(), seed=int(os.environ.get("RIPPLE_FUZZ_SEED", "20261206")))
        try:
            prepare(fuzzer.raw)
            sent = fuzzer.run(messages=20000, seconds=40.0, huge=2)
            problems = check_survivor(fuzzer, km.is_alive)
        finally:
            fuzzer.close()
    assert sum(sent.values()) >= 5000, f"the fuzzer sent too little to mean anything: {sent}"
    assert sent.get("huge", 0) >= 1 and sent.get("replayed", 0) > 0 and sent.get("bad_signature", 0) > 0, sent
    assert not problems, f"after {sum(sent.values())} fuzz messages ({sent}): {problems}"
