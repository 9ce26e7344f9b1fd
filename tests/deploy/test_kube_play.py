# test_kube_play.py: the k8s manifests run for real with Debian's `podman kube play` (podman 4.3) and the offline image.
# Must not know how the image was built (deploy.image does) nor ripple's internals; it drives podman, as a kubelet would.
#
# usage (root): /usr/bin/python3 test_kube_play.py --image localhost/ripple:ctest --k8s k8s/ [--keep]
#
# Single-user overlay (kubectl kustomize): the Deployment's pod starts under its securityContext (uid 1000, read-only
# root, no privilege escalation, no capabilities); the notebook server answers; a ripple kernel runs dependent cells;
# after `podman kube down` and a new play, the claim still holds the cache: rerunning the cells restores them from it.
# Batch overlay: the Job's pod template, played as a Pod, renders a notebook and an R Markdown document into the
# results volume (and, with no team cache server reachable, says so in one line and uses its local cache); the team
# cache Deployment (nginx, --team-cache-image) runs under its securityContext and serves ripple: two run-notebook
# runs with separate local caches, in that pod's network namespace, the second served every cell from it.
#
# What podman 4.3 does differently from a kubelet, and what this script does in its place (nothing else is changed):
# - no Job kind: the Job's pod template is played as a Pod; no $(VAR) expansion in args: expanded here from env;
# - a secret volume makes `kube play` crash: the Secret's key file is given as a hostPath directory instead;
# - Secrets come from podman's store, as a JSON map of base64 values; a PVC that already exists as a volume is an
#   error, so the second play leaves out the claim (bound already, as on a cluster);
# - no port publishing without hostPort: the client runs in the pod's network namespace (nsenter) on 127.0.0.1,
#   so nothing listens outside the pod.
import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "cli"))

from jupyter_ws import JupyterServer  # noqa: E402

DRIVER = os.environ.get("RIPPLE_STORAGE_DRIVER", "vfs")
TOKEN = "kube-play-token-" + os.urandom(8).hex()
# (podman 4.3 makes a volume of each ConfigMap too: ripple-team-cache-nginx)
VOLUMES = ["ripple-home", "ripple-notebooks", "ripple-results", "ripple-cache", "ripple-team-cache", "ripple-team-cache-nginx"]
SECRETS = ["ripple-notebook-token"]
CELLS = [("base <- 20", ""), ("answer <- base + 22", ""), ("answer * 10", "[1] 420")]

failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        failures.append(what)
    return ok


def podman(*args, check_rc=True, timeout=300, input=None):
    proc = subprocess.run(["podman", "--storage-driver", DRIVER, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout, input=input)
    if check_rc and proc.returncode != 0:
        # podman 4.3 logs (as errors) that it cannot reach systemd for healthcheck timers: not a failure
        raise RuntimeError(f"podman {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def render(k8s, overlay):
    out = subprocess.run(["kubectl", "kustomize", str(k8s / "overlays" / overlay)], stdout=subprocess.PIPE,
                         check=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def set_image(docs, image):
    for d in docs:
        spec = d.get("spec", {}).get("template", {}).get("spec") or d.get("spec", {})
        for c in spec.get("containers", []) if isinstance(spec, dict) else []:
            if c.get("image", "").split(":")[0].endswith("/ripple"):
                c["image"] = image


def write_yaml(path, docs):
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def podman_secret(name, data):
    podman("secret", "rm", name, check_rc=False)
    blob = json.dumps({k: base64.b64encode(v.encode()).decode() for k, v in data.items()})
    podman("secret", "create", name, "-", input=blob)


def cleanup(pods, volumes=True):
    for pod in pods:
        podman("pod", "rm", "--force", "--ignore", pod, check_rc=False)
    if volumes:
        for v in VOLUMES:
            podman("volume", "rm", "--force", v, check_rc=False)
        for s in SECRETS:
            podman("secret", "rm", s, check_rc=False)


def container_pid(name):
    return podman("inspect", name, "--format", "{{.State.Pid}}").stdout.strip()


def in_pod_netns(name, code, timeout=180):
    """Runs Debian's python3 with `code` in the pod's network namespace (its loopback is the pod's)."""
    return subprocess.run(["nsenter", "-t", container_pid(name), "-n", "/usr/bin/python3", "-c", code],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


CLIENT = """
import json, sys
sys.path.insert(0, {here!r})
from jupyter_ws import JupyterServer
server = JupyterServer("http://127.0.0.1:8888", {token!r})
version = server.wait_ready(120)
kernel = server.start_kernel("ripple")
channels = server.connect(kernel)
results = [channels.execute(code, timeout=120, cell_id=f"cell-{{i}}") for i, code in enumerate({cells!r})]
channels.close()
server.shutdown_kernel(kernel)
print(json.dumps({{"version": version, "results": results}}))
"""


def run_cells(container):
    proc = in_pod_netns(container, CLIENT.format(here=str(HERE), token=TOKEN, cells=[c for c, _ in CELLS]))
    if proc.returncode != 0:
        raise RuntimeError(f"the client in the pod's network failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_security(container, shell="sh"):
    info = json.loads(podman("inspect", container).stdout)[0]
    host = info["HostConfig"]
    check(info["Config"]["User"] == "1000:100", f"runs as uid:gid 1000:100 (User {info['Config']['User']})")
    check(host["ReadonlyRootfs"] is True, "read-only root filesystem")
    check("no-new-privileges" in (host.get("SecurityOpt") or []), "no privilege escalation (no-new-privileges)")
    check(not host.get("CapAdd") and not host.get("Privileged"), "not privileged, no capability added")
    status = podman("exec", container, "sh", "-c", "id -u; grep -E '^(CapEff|CapPrm|NoNewPrivs)' /proc/self/status;"
                    " touch /usr/probe 2>/dev/null && echo writable || echo read-only").stdout.split()
    check(status[0] == "1000", "the process in the pod is uid 1000")
    check("0000000000000000" in status and status.count("0000000000000000") == 2, "no effective or permitted capability")
    check(status[-1] == "read-only", "writing to the root filesystem fails")


def single_user(args, work):
    docs = render(args.k8s, "single-user")
    set_image(docs, args.image)
    first = write_yaml(work / "single-user.yaml", docs)
    again = write_yaml(work / "single-user-again.yaml", [d for d in docs if d["kind"] != "PersistentVolumeClaim"])
    podman_secret("ripple-notebook-token", {"token": TOKEN})
    container = "ripple-notebook-pod-0-notebook"

    podman("kube", "play", str(first))
    check_security(container)
    run = run_cells(container)
    check(bool(run["version"]), f"the notebook server answers (/api: Jupyter {run['version']})")
    for (code, want), out in zip(CELLS, run["results"]):
        check(out["status"] == "ok" and want in out["result"] and not out["from_cache"],
              f"kernel ran {code!r} -> {out['result'].strip()!r}")

    podman("kube", "down", str(first))
    check(podman("volume", "exists", "ripple-home", check_rc=False).returncode == 0, "the claim outlives kube down")
    podman("kube", "play", str(again))
    rerun = run_cells(container)
    for (code, want), out in zip(CELLS, rerun["results"]):
        check(out["status"] == "ok" and want in out["result"] and out["from_cache"],
              f"after kube down and a new play, {code!r} is restored from the cache on the claim "
              f"(from_cache {out['from_cache']})")
    podman("kube", "down", str(again))


def expand(value, env):
    for name, val in env.items():
        value = value.replace(f"$({name})", val)
    return value


def batch(args, work):
    docs = render(args.k8s, "batch")
    job = next(d for d in docs if d["kind"] == "Job")
    volumes_dir = work / "secrets"
    key_dir = volumes_dir / "team-cache-key"
    key_dir.mkdir(parents=True)
    (key_dir / "key").write_text("a team key for the kube play test\n")
    os.chown(volumes_dir, 1000, 100)
    os.chown(key_dir, 1000, 100)
    os.chown(key_dir / "key", 1000, 100)
    os.chmod(key_dir / "key", 0o440)

    for v in ("ripple-notebooks", "ripple-results", "ripple-cache"):
        podman("volume", "create", v)
    notebooks = Path(podman("volume", "inspect", "ripple-notebooks", "--format", "{{.Mountpoint}}").stdout.strip())
    from cli_env import write_notebook
    write_notebook(notebooks / "report.ipynb", ["x <- c(3, 1, 2)", "y <- sort(x)\ny", "plot(y)"])
    (notebooks / "report.Rmd").write_text((args.k8s.parent / "examples" / "report.Rmd").read_text())
    for path in [notebooks, *notebooks.iterdir()]:
        os.chown(path, 1000, 100)

    outputs = {}
    for doc, out in (("report.ipynb", "report.ipynb"), ("report.Rmd", "report.html")):
        spec = json.loads(json.dumps(job["spec"]["template"]["spec"]))
        container = spec["containers"][0]
        container["image"] = args.image
        env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
        env.update(NOTEBOOK=f"/notebooks/{doc}", OUTPUT=f"/results/{out}")
        for e in container["env"]:
            if e["name"] in ("NOTEBOOK", "OUTPUT"):
                e["value"] = env[e["name"]]
        container["args"] = [expand(a, env) for a in container.get("args", [])]
        for volume in spec["volumes"]:
            if "secret" in volume:
                volume.pop("secret")
                volume["hostPath"] = {"path": str(volumes_dir / volume["name"]), "type": "Directory"}
        name = "ripple-run-" + doc.replace(".", "-").lower()
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": job["spec"]["template"]
                                                               ["metadata"]["labels"]}, "spec": spec}
        podman("kube", "play", str(write_yaml(work / f"{name}.yaml", [pod])))
        ctr = f"{name}-{container['name']}"
        deadline = time.monotonic() + 300
        while podman("inspect", ctr, "--format", "{{.State.Status}}").stdout.strip() != "exited":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{ctr} did not finish in 300 s")
            time.sleep(1)
        code = podman("inspect", ctr, "--format", "{{.State.ExitCode}}").stdout.strip()
        logs = podman("logs", ctr).stderr + podman("logs", ctr).stdout
        check(code == "0", f"the Job's pod renders {doc} (exit {code}){'' if code == '0' else ': ' + logs[-1500:]}")
        remote = [line for line in logs.splitlines() if line.startswith("ripple remote cache:")]
        check(len(remote) == 1, f"no team cache reachable: one line says so ({remote[:1]})")
        podman("pod", "rm", "--force", name)
        outputs[doc] = out
    results = Path(podman("volume", "inspect", "ripple-results", "--format", "{{.Mountpoint}}").stdout.strip())
    notebook = json.loads((results / "report.ipynb").read_text())
    shown = json.dumps(notebook["cells"])
    check("[1] 1 2 3" in shown and "image/png" in shown, "the executed notebook is in the results volume")
    html = (results / "report.html").read_text() if (results / "report.html").exists() else ""
    check(len(html) > 1000 and "<html" in html.lower(), f"the rendered R Markdown document is in the results volume "
                                                           f"({len(html)} bytes)")
    cache = Path(podman("volume", "inspect", "ripple-cache", "--format", "{{.Mountpoint}}").stdout.strip())
    check((cache / "cache.sqlite").exists(), "the runs filled the cache volume")


def team_cache(args, work):
    docs = render(args.k8s, "batch")
    for d in docs:
        for c in (d.get("spec", {}).get("template", {}).get("spec", {}) or {}).get("containers", []):
            if c.get("image", "").split(":")[0].endswith("/ripple-team-cache"):
                c["image"] = args.team_cache_image
    kinds = ("ConfigMap", "PersistentVolumeClaim", "Deployment")
    server = [d for d in docs if d["kind"] in kinds and "team-cache" in d["metadata"]["name"]]
    played = write_yaml(work / "team-cache.yaml", server)
    podman("kube", "play", str(played))
    container = "ripple-team-cache-pod-0-nginx"
    check_security(container, shell="sh")
    key = work / "team.key"
    key.write_text("a team key for the kube play test\n")
    nb = work / "team.ipynb"
    from cli_env import write_notebook
    write_notebook(nb, ["x <- c(3, 1, 2)", "y <- sort(x)\ny", "plot(y)"])
    reports = []
    for n in (1, 2):
        code = (f"import subprocess, sys; p = subprocess.run([{str(args.run_notebook)!r}, {str(nb)!r}, '-o', "
                f"{str(work / f'team-out{n}.ipynb')!r}, '--cache-dir', {str(work / f'team-local{n}')!r}, '--report', "
                f"'json', {str(work / f'team{n}.json')!r}], env=dict(RIPPLE_REMOTE_CACHE='http://127.0.0.1:8080', "
                f"RIPPLE_REMOTE_CACHE_KEY_FILE={str(key)!r}, LC_ALL='C.UTF-8', PATH='/usr/bin:/bin', HOME='/root')); "
                f"sys.exit(p.returncode)")
        proc = in_pod_netns(container, code)
        check(proc.returncode == 0 and "ripple remote cache:" not in proc.stderr,
              f"run-notebook {n} with the team cache in the pod{'' if proc.returncode == 0 else ': ' + proc.stderr[-800:]}")
        reports.append(json.loads((work / f"team{n}.json").read_text()) if (work / f"team{n}.json").exists() else {})
    counts = reports[1].get("counts", {})
    check(counts.get("from_cache") == counts.get("cells") == 3,
          f"a second runner with an empty local cache is served every cell by the team cache pod ({counts})")
    served = Path(podman("volume", "inspect", "ripple-team-cache", "--format", "{{.Mountpoint}}").stdout.strip())
    check(len(list((served / "ac").iterdir())) >= 3 and any((served / "cas").iterdir()),
          "the entries and values are files on the team cache's claim")
    podman("kube", "down", str(played))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--image", required=True)
    ap.add_argument("--k8s", type=Path, required=True)
    ap.add_argument("--team-cache-image", help="docker/build-offline --team-cache's image: also play the team cache")
    ap.add_argument("--run-notebook", type=Path, help="the build's run-notebook, the team cache's client")
    args = ap.parse_args()
    args.k8s = args.k8s.resolve()
    if os.geteuid() != 0:
        print("deploy.kube-play: skipped: podman kube play with vfs storage needs root here")
        return 77
    if podman("image", "exists", args.image, check_rc=False).returncode != 0:
        print(f"FAIL no image {args.image}: deploy.image builds it (docker/build-offline)")
        return 1
    started = time.monotonic()
    pods = ["ripple-notebook-pod-0", "ripple-run-report-ipynb", "ripple-run-report-rmd", "ripple-team-cache-pod-0"]
    with tempfile.TemporaryDirectory(prefix="ripple-kube-play-") as tmp:
        work = Path(tmp)
        conf = work / "containers.conf"
        # What every podman run here uses (the machine's limits), for the pods kube play makes.
        conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                        '[engine]\nruntime = "runc"\n')
        os.environ["CONTAINERS_CONF"] = str(conf)
        cleanup(pods)
        try:
            single_user(args, work)
            batch(args, work)
            if args.team_cache_image:
                team_cache(args, work)
        except Exception as error:  # noqa: BLE001 (reported as a failure, then cleaned up)
            check(False, f"{type(error).__name__}: {error}")
        finally:
            cleanup(pods)
    print(f"{len(failures)} failed in {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
