# test_policy_rejects.py: proves check_policy.py fails: each mutation of a good rendered manifest must be rejected.
# Must not know how the manifests were rendered; it takes rendered files that pass the policy.
#
# usage: /usr/bin/python3 test_policy_rejects.py RENDERED.yaml...
import copy
import os
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_policy  # noqa: E402


def first_pod(objects):
    for o in objects:
        path = check_policy.POD_PATHS.get(o.get("kind"))
        if path:
            return check_policy.dig(o, path)
    raise SystemExit("no pod template in the rendered file")


def container(objs):
    return first_pod(objs)["containers"][0]


def set_root(objs):
    pod = first_pod(objs)
    pod["securityContext"]["runAsUser"] = 0
    pod["securityContext"]["runAsNonRoot"] = False
    container(objs)["securityContext"].pop("runAsUser", None)
    container(objs)["securityContext"].pop("runAsNonRoot", None)


def drop_user(objs):
    first_pod(objs)["securityContext"].pop("runAsUser")
    container(objs)["securityContext"].pop("runAsUser")


def no_limits(objs):
    container(objs)["resources"].pop("limits")


def no_memory_request(objs):
    container(objs)["resources"]["requests"].pop("memory")


def token_on_pod(objs):
    first_pod(objs)["automountServiceAccountToken"] = True


def token_from_service_account(objs):
    first_pod(objs).pop("automountServiceAccountToken")
    for o in objs:
        if o.get("kind") == "ServiceAccount":
            o.pop("automountServiceAccountToken", None)


def escalation(objs):
    container(objs)["securityContext"]["allowPrivilegeEscalation"] = True


def keep_capabilities(objs):
    container(objs)["securityContext"]["capabilities"] = {"drop": ["NET_RAW"]}


def privileged(objs):
    container(objs)["securityContext"]["privileged"] = True


def unconfined_seccomp(objs):
    first_pod(objs)["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    container(objs)["securityContext"]["seccompProfile"] = {"type": "Unconfined"}


def writable_root(objs):
    container(objs)["securityContext"]["readOnlyRootFilesystem"] = False


def root_init_container(objs):
    init = copy.deepcopy(container(objs))
    init["name"] = "setup"
    init["securityContext"] = {"runAsUser": 0, "runAsNonRoot": False}
    first_pod(objs)["initContainers"] = [init]


def no_default_deny(objs):
    objs[:] = [o for o in objs if not (o.get("kind") == "NetworkPolicy"
                                       and o["metadata"]["name"] == "default-deny-all")]


def metadata_reachable(objs):
    for o in objs:
        for rule in check_policy.dig(o, ["spec", "egress"]) or []:
            for peer in rule.get("to") or []:
                if "ipBlock" in peer and peer["ipBlock"]["cidr"] == "0.0.0.0/0":
                    peer["ipBlock"]["except"] = ["10.0.0.0/8"]


def egress_anywhere(objs):
    for o in objs:
        if o.get("kind") == "NetworkPolicy" and check_policy.dig(o, ["spec", "egress"]):
            o["spec"]["egress"].append({"ports": [{"port": 443, "protocol": "TCP"}]})
            return


def no_dns(objs):
    objs[:] = [o for o in objs if not (o.get("kind") == "NetworkPolicy"
                                       and o["metadata"]["name"] == "allow-dns")]


MUTATIONS = [
    (set_root, "runs as root"),
    (drop_user, "runs as root (runAsUser is None"),
    (no_limits, "no cpu limit"),
    (no_memory_request, "no memory request"),
    (token_on_pod, "service-account token is mounted"),
    (token_from_service_account, "service-account token is mounted"),
    (escalation, "allowPrivilegeEscalation"),
    (keep_capabilities, "do not drop ALL"),
    (privileged, "privileged"),
    (unconfined_seccomp, "seccompProfile is not RuntimeDefault"),
    (writable_root, "root filesystem is writable"),
    (root_init_container, "initContainer setup: runs as root"),
    (no_default_deny, "no default-deny NetworkPolicy"),
    (metadata_reachable, "169.254.169.254"),
    (egress_anywhere, "without 'to'"),
    (no_dns, "allows DNS"),
]


def main(rendered):
    with open(rendered, encoding="utf-8") as f:
        good = [o for o in yaml.safe_load_all(f) if isinstance(o, dict)]
    failures = 0
    with tempfile.TemporaryDirectory(prefix="ripple-policy-") as tmp:
        problems, _ = check_policy.check_file(rendered)
        if problems:
            print(f"FAIL the unmutated manifest must pass first: {problems[0]}")
            return 1
        for mutate, expected in MUTATIONS:
            objs = copy.deepcopy(good)
            mutate(objs)
            path = os.path.join(tmp, f"{mutate.__name__}.yaml")
            with open(path, "w", encoding="utf-8") as f:
                yaml.safe_dump_all(objs, f)
            problems, _ = check_policy.check_file(path)
            hits = [p for p in problems if expected in p]
            if hits:
                print(f"ok   {mutate.__name__}: rejected ({hits[0].split(': ', 1)[1]})")
            else:
                print(f"FAIL {mutate.__name__}: expected a problem containing {expected!r}, got {problems}")
                failures += 1
    print(f"{len(MUTATIONS) - failures}/{len(MUTATIONS)} bad manifests rejected")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: test_policy_rejects.py RENDERED.yaml...", file=sys.stderr)
        sys.exit(2)
    results = []
    for rendered in sys.argv[1:]:
        print(f"== {rendered}")
        results.append(main(rendered))
    sys.exit(max(results))
