# check_z2jh_values.py: merges ripple's Zero to JupyterHub values over the chart defaults (as Helm does) and validates.
# Must not know about the hub's runtime; it checks the merged values against the chart's schema and ripple's needs.
#
# usage: /usr/bin/python3 check_z2jh_values.py [--expect-invalid] VALUES.yaml...
#   (schema and defaults: z2jh/values.schema.yaml and z2jh/values.yaml next to this script)
# Each VALUES file is merged over the defaults on its own. With --expect-invalid every file
# must be rejected (proves the check can fail).
import copy
import os
import sys

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))


def helm_merge(defaults, override):
    """Helm's coalesce: maps merge key by key, a null removes the default, anything else replaces."""
    if not isinstance(defaults, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    merged = copy.deepcopy(defaults)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def ripple_problems(values):
    """What ripple needs beyond the schema: its image, two profiles, storage, culling, warm spares, policy, kernel."""
    problems = []
    su = values.get("singleuser") or {}
    if "ripple" not in str((su.get("image") or {}).get("name", "")):
        problems.append("singleuser.image.name is not a ripple image")
    slugs = {p.get("slug") for p in su.get("profileList") or []}
    if not {"small", "large"} <= slugs:
        problems.append(f"singleuser.profileList must offer small and large, has {sorted(map(str, slugs))}")
    if sum(1 for p in su.get("profileList") or [] if p.get("default")) != 1:
        problems.append("singleuser.profileList needs exactly one default profile")
    storage = su.get("storage") or {}
    if storage.get("type") not in ("dynamic", "static") or storage.get("homeMountPath") != "/home/jovyan":
        problems.append("singleuser.storage must give each user a volume at /home/jovyan")
    if su.get("uid") != 1000 or su.get("fsGid") != 100:
        problems.append("singleuser.uid/fsGid must be 1000/100 (jovyan)")
    cull = values.get("cull") or {}
    if not cull.get("enabled") or not cull.get("timeout"):
        problems.append("cull must be enabled with a timeout")
    # Warm spares (placeholders that real user pods preempt) and the image pre-pulled onto every node.
    scheduling = values.get("scheduling") or {}
    if not (scheduling.get("podPriority") or {}).get("enabled") or \
            not (scheduling.get("userPlaceholder") or {}).get("enabled") or \
            not (scheduling.get("userPlaceholder") or {}).get("replicas"):
        problems.append("scheduling needs podPriority and userPlaceholder enabled with replicas (warm spare pods)")
    pre = values.get("prePuller") or {}
    if not (pre.get("hook") or {}).get("enabled") or not (pre.get("continuous") or {}).get("enabled"):
        problems.append("prePuller.hook and prePuller.continuous must be enabled (the image is on every node)")
    policy = su.get("networkPolicy") or {}
    if not policy.get("enabled") or (policy.get("egressAllowRules") or {}).get("cloudMetadataServer"):
        problems.append("singleuser.networkPolicy must be enabled and block the cloud metadata server")
    kernels = [((f.get("data") or {}).get("MappingKernelManager") or {}).get("default_kernel_name")
               for f in (su.get("extraFiles") or {}).values()]
    if "ripple" not in kernels:
        problems.append("no extraFiles entry sets MappingKernelManager.default_kernel_name: ripple")
    return problems


def check(path, schema, defaults):
    with open(path, encoding="utf-8") as f:
        override = yaml.safe_load(f) or {}
    merged = helm_merge(defaults, override)
    validator = jsonschema.Draft7Validator(schema)
    problems = [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in sorted(validator.iter_errors(merged), key=lambda e: list(map(str, e.absolute_path)))]
    # ripple's own checks read the structure the schema guarantees; only run them on valid values.
    return problems or ripple_problems(merged)


def main(argv):
    expect_invalid = bool(argv) and argv[0] == "--expect-invalid"
    files = argv[1:] if expect_invalid else argv
    if not files:
        print("usage: check_z2jh_values.py [--expect-invalid] VALUES.yaml...", file=sys.stderr)
        return 2
    with open(os.path.join(HERE, "z2jh", "values.schema.yaml"), encoding="utf-8") as f:
        schema = yaml.safe_load(f)
    with open(os.path.join(HERE, "z2jh", "values.yaml"), encoding="utf-8") as f:
        defaults = yaml.safe_load(f)
    # The chart's own defaults must pass its schema, or the merge below proves nothing.
    jsonschema.Draft7Validator.check_schema(schema)
    failed = False
    for path in files:
        problems = check(path, schema, defaults)
        if expect_invalid:
            if problems:
                print(f"ok   {path}: rejected as expected ({problems[0]})")
            else:
                print(f"FAIL {path}: expected the merged values to be rejected, they validate")
                failed = True
        elif problems:
            for p in problems:
                print(f"FAIL {path}: {p}")
            failed = True
        else:
            print(f"ok   {path}: valid against the chart schema after merging over the chart defaults")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
