# check_policy.py: ripple's deployment policy over rendered Kubernetes YAML (non-root, limits, no SA token, netpol).
# Must not know how manifests are made (kustomize) nor the API schemas (validate_k8s.cjs checks those).
#
# usage: /usr/bin/python3 check_policy.py [--expect-violation] FILE.yaml...
# Every pod template (Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod) must:
#   run as non-root (runAsNonRoot true, runAsUser not 0, at pod or container level), uid 1000;
#   not automount a service-account token (pod spec false, or its ServiceAccount false and the pod not true);
#   use seccomp RuntimeDefault; per container: allowPrivilegeEscalation false, capabilities drop ALL,
#   no privileged, cpu+memory requests and limits, readOnlyRootFilesystem true.
# Every file with pods must also carry a default-deny NetworkPolicy (Ingress+Egress, all pods), allow
# DNS, and block 169.254.169.254 in every egress ipBlock that would otherwise contain it.
import ipaddress
import sys

import yaml

POD_PATHS = {
    "Pod": ["spec"],
    "Deployment": ["spec", "template", "spec"],
    "StatefulSet": ["spec", "template", "spec"],
    "DaemonSet": ["spec", "template", "spec"],
    "ReplicaSet": ["spec", "template", "spec"],
    "Job": ["spec", "template", "spec"],
    "CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
}
METADATA_IP = ipaddress.ip_address("169.254.169.254")


def dig(obj, path):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def effective(container_sc, pod_sc, key):
    """A container setting overrides the pod's (as the kubelet does)."""
    if key in (container_sc or {}):
        return container_sc[key]
    return (pod_sc or {}).get(key)


def check_pod(where, spec, service_accounts):
    problems = []
    pod_sc = spec.get("securityContext") or {}
    token = spec.get("automountServiceAccountToken")
    sa_name = spec.get("serviceAccountName") or "default"
    if token is not False:
        sa_token = service_accounts.get(sa_name)
        if token is True or sa_token is not False:
            problems.append(f"{where}: the service-account token is mounted "
                            f"(set automountServiceAccountToken: false on the pod)")
    containers = [("container", c) for c in spec.get("containers") or []]
    containers += [("initContainer", c) for c in spec.get("initContainers") or []]
    if not containers:
        problems.append(f"{where}: no containers")
    for role, c in containers:
        name = f"{where} {role} {c.get('name', '?')}"
        sc = c.get("securityContext") or {}
        uid = effective(sc, pod_sc, "runAsUser")
        if effective(sc, pod_sc, "runAsNonRoot") is not True:
            problems.append(f"{name}: runs as root (runAsNonRoot is not true)")
        if uid is None or uid == 0:
            problems.append(f"{name}: runs as root (runAsUser is {uid!r}, want 1000)")
        elif uid != 1000:
            problems.append(f"{name}: runAsUser is {uid}, want 1000 (jovyan)")
        if sc.get("privileged") is True:
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        drops = [str(d).upper() for d in dig(sc, ["capabilities", "drop"]) or []]
        if "ALL" not in drops:
            problems.append(f"{name}: capabilities do not drop ALL")
        if dig(sc, ["capabilities", "add"]):
            problems.append(f"{name}: adds capabilities {dig(sc, ['capabilities', 'add'])}")
        seccomp = effective(sc, pod_sc, "seccompProfile") or {}
        if seccomp.get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile is not RuntimeDefault")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: root filesystem is writable (readOnlyRootFilesystem is not true)")
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not (res.get(kind) or {}).get(resource):
                    problems.append(f"{name}: no {resource} {kind[:-1]}")
    return problems


def ip_block_contains_metadata(block):
    try:
        net = ipaddress.ip_network(block.get("cidr", ""), strict=False)
    except ValueError:
        return False
    if METADATA_IP not in net:
        return False
    for ex in block.get("except") or []:
        try:
            if METADATA_IP in ipaddress.ip_network(ex, strict=False):
                return False
        except ValueError:
            pass
    return True


def check_network(where, policies):
    problems = []
    deny = [p for p in policies
            if dig(p, ["spec", "podSelector"]) == {}
            and set(dig(p, ["spec", "policyTypes"]) or []) >= {"Ingress", "Egress"}
            and not dig(p, ["spec", "ingress"]) and not dig(p, ["spec", "egress"])]
    if not deny:
        problems.append(f"{where}: no default-deny NetworkPolicy (podSelector {{}}, Ingress+Egress, no rules)")
    dns = False
    for p in policies:
        pname = f"{where}: NetworkPolicy/{dig(p, ['metadata', 'name'])}"
        for rule in dig(p, ["spec", "egress"]) or []:
            if not rule.get("to"):
                problems.append(f"{pname}: an egress rule without 'to' allows every destination, "
                                f"including 169.254.169.254")
            for peer in rule.get("to") or []:
                block = peer.get("ipBlock")
                if block and ip_block_contains_metadata(block):
                    problems.append(f"{pname}: egress to {block.get('cidr')} does not except "
                                    f"the cloud metadata address 169.254.169.254")
            if any(str(port.get("port")) == "53" for port in rule.get("ports") or []):
                dns = True
    if not dns:
        problems.append(f"{where}: no NetworkPolicy allows DNS (port 53) egress")
    return problems


def check_file(path):
    with open(path, encoding="utf-8") as f:
        objects = [o for o in yaml.safe_load_all(f) if isinstance(o, dict)]
    service_accounts = {dig(o, ["metadata", "name"]): o.get("automountServiceAccountToken")
                        for o in objects if o.get("kind") == "ServiceAccount"}
    problems, pods = [], 0
    for o in objects:
        kind = o.get("kind")
        if kind in POD_PATHS:
            spec = dig(o, POD_PATHS[kind])
            where = f"{path}: {kind}/{dig(o, ['metadata', 'name'])}"
            if not isinstance(spec, dict):
                problems.append(f"{where}: no pod spec")
                continue
            pods += 1
            problems += check_pod(where, spec, service_accounts)
    if pods:
        problems += check_network(path, [o for o in objects if o.get("kind") == "NetworkPolicy"])
    else:
        problems.append(f"{path}: no pod templates to check")
    return problems, pods


def main(argv):
    expect_violation = bool(argv) and argv[0] == "--expect-violation"
    files = argv[1:] if expect_violation else argv
    if not files:
        print(__doc__ or "usage: check_policy.py [--expect-violation] FILE.yaml...", file=sys.stderr)
        return 2
    failed = False
    for path in files:
        problems, pods = check_file(path)
        if expect_violation:
            if problems:
                print(f"ok   {path}: rejected as expected ({problems[0]})")
            else:
                print(f"FAIL {path}: expected a policy violation, {pods} pod templates passed")
                failed = True
        elif problems:
            for p in problems:
                print(f"FAIL {p}")
            failed = True
        else:
            print(f"ok   {path}: {pods} pod templates pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
