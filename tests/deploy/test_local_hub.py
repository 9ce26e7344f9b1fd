# test_local_hub.py: Debian's JupyterHub on 127.0.0.1 spawns a user's server; cells run in the ripple kernel.
# Must not know about containers or Kubernetes: hub, proxy and single-user server are local processes.
#
# usage: RIPPLE_BUILD_DIR=build /usr/bin/python3 test_local_hub.py [--image IMAGE]
# DummyAuthenticator + SimpleLocalProcessSpawner; a service token (from the generated config) drives the hub's
# REST API; the kernelspec is installed into a temporary prefix and found through JUPYTER_PATH. Every process
# started carries a marker in its environment; the test fails if any is alive at the end.
# --image: the spawner starts the user's server in that container image instead (podman, host network,
# uid 1000, read-only root, an empty home volume), as kubespawner would: the image's own start command,
# jupyterhub-singleuser and kernelspec are used. docker/test-image runs this.
import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jupyter_ws import JupyterServer, run_cells  # noqa: E402

PYTHON = "/usr/bin/python3"
USER = "alice"
CELLS = [
    ("x <- 20", ""),
    ("x + 22", "[1] 42"),
    ('cat("x is", x, "\\n")', "x is 20"),
    ("y <- x * 2; y", "[1] 40"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_with(marker):
    """PIDs whose environment carries the marker (hub, proxy, single-user server, kernels)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def container_name(marker):
    return f"ripple-hub-{marker}"


def container_command(tmp, image, marker):
    """podman run of the image as a user's pod: the hub's JUPYTERHUB_* variables, the image's own CMD."""
    home = os.path.join(tmp, "container-home")
    os.makedirs(home)
    os.chown(home, 1000, 100)
    driver = os.environ.get("RIPPLE_STORAGE_DRIVER", "vfs")
    return ["podman", "--storage-driver", driver, "run", "--rm", "--name", container_name(marker),
            "--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
            "--read-only", "--tmpfs", "/tmp:rw,size=512m,mode=1777", "--volume", f"{home}:/home/jovyan",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--network", "host",
            "--env", "JUPYTERHUB_*", image, "start-ripple-server"]


def leftover_containers(marker):
    driver = os.environ.get("RIPPLE_STORAGE_DRIVER", "vfs")
    out = subprocess.run(["podman", "--storage-driver", driver, "ps", "-a", "-q", "--filter",
                          f"name={container_name(marker)}"], capture_output=True, text=True, timeout=60)
    return out.stdout.split()


class Hub:
    def __init__(self, tmp, build_dir, marker, image=None):
        self.tmp = tmp
        self.token = secrets.token_hex(16)
        self.port, self.hub_port, self.proxy_api_port = free_port(), free_port(), free_port()
        if image:
            cmd, args, singleuser_env = container_command(tmp, image, marker), [], {"RIPPLE_DEPLOY_TEST": marker}
        else:
            prefix = os.path.join(tmp, "kernels")
            subprocess.run([os.path.join(build_dir, "bin", "ripple-kernel"), "install", "--prefix", prefix],
                           check=True, stdout=subprocess.DEVNULL, timeout=30)
            singleuser_env = {
                "JUPYTER_PATH": os.path.join(prefix, "share", "jupyter"),
                "RIPPLE_CACHE_DIR": os.path.join(tmp, "cache"),
                "RIPPLE_DEPLOY_TEST": marker,
            }
            cmd = ["/usr/bin/jupyterhub-singleuser"]
            args = ["--allow-root"] if os.geteuid() == 0 else []
        config = f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {self.port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {self.hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = {os.path.join(tmp, "proxy.pid")!r}
c.JupyterHub.db_url = "sqlite:///{os.path.join(tmp, "hub.sqlite")}"
c.JupyterHub.cookie_secret_file = {os.path.join(tmp, "cookie_secret")!r}
c.JupyterHub.authenticator_class = "jupyterhub.auth.DummyAuthenticator"
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = {os.path.join(tmp, "home", "{username}")!r}
c.Spawner.cmd = {cmd!r}
c.Spawner.args = {args!r}
c.Spawner.environment = {singleuser_env!r}
c.Spawner.start_timeout = 150
c.Spawner.http_timeout = 150
c.LocalProcessSpawner.term_timeout = 20
c.JupyterHub.services = [{{"name": "ripple-test", "api_token": {self.token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "ripple-test",
    "scopes": ["admin:users", "admin:servers", "access:servers", "list:users"],
    "services": ["ripple-test"],
}}]
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
"""
        self.config = os.path.join(tmp, "jupyterhub_config.py")
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(config)
        env = dict(os.environ, RIPPLE_DEPLOY_TEST=marker,
                   NODE_PATH="/usr/share/nodejs:/usr/lib/nodejs",
                   PATH="/usr/local/bin:/usr/bin:/bin")
        self.log = open(os.path.join(tmp, "hub.log"), "wb")
        self.proc = subprocess.Popen([PYTHON, "-m", "jupyterhub", "-f", self.config], cwd=tmp, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.api = f"http://127.0.0.1:{self.port}/hub/api"

    def request(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode()
            return resp.status, (json.loads(text) if text else None)

    def wait_up(self, deadline_s=60):
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with {self.proc.returncode}")
            try:
                return self.request("GET", "/")[1]["version"]
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise TimeoutError(f"the hub did not answer on 127.0.0.1:{self.port} in {deadline_s}s")

    def wait_server(self, ready, deadline_s=90):
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            _, user = self.request("GET", f"/users/{USER}")
            server = (user.get("servers") or {}).get("")
            if ready and server and server.get("ready"):
                return server
            if not ready and not server:
                return None
            time.sleep(0.5)
        raise TimeoutError(f"{USER}'s server did not become {'ready' if ready else 'stopped'} in {deadline_s}s")

    def stop(self, deadline_s=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=deadline_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def main():
    ap = argparse.ArgumentParser(description="JupyterHub on 127.0.0.1 spawns a server running the ripple kernel.")
    ap.add_argument("--image", help="spawn the user's server in this container image (podman)")
    opts = ap.parse_args()
    build_dir = os.environ.get("RIPPLE_BUILD_DIR", "")
    if not opts.image and not os.path.exists(os.path.join(build_dir, "bin", "ripple-kernel")):
        print("FAIL set RIPPLE_BUILD_DIR to a build directory with bin/ripple-kernel (bash scripts/build.sh)")
        return 1
    marker = f"ripple-hub-test-{secrets.token_hex(8)}"
    problems = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ripple-hub-") as tmp:
        hub = Hub(tmp, os.path.abspath(build_dir), marker, opts.image)
        try:
            print(f"ok   hub {hub.wait_up()} on 127.0.0.1:{hub.port}")
            status, _ = hub.request("POST", f"/users/{USER}")
            print(f"ok   user {USER} created ({status})")
            status, _ = hub.request("POST", f"/users/{USER}/server")
            server = hub.wait_server(ready=True, deadline_s=180 if opts.image else 90)
            print(f"ok   {USER}'s server spawned ({status}{', in ' + opts.image if opts.image else ''}) "
                  f"and ready at {server['url']}")
            single = JupyterServer(f"http://127.0.0.1:{hub.port}{server['url'].rstrip('/')}", hub.token)
            specs = single.kernelspecs()["kernelspecs"]
            if "ripple" not in specs:
                problems.append(f"the single-user server does not list the ripple kernel: {sorted(specs)}")
            else:
                print(f"ok   kernelspec ripple listed by the single-user server ({specs['ripple']['spec']['display_name']})")
                problems += run_cells(single, "ripple", CELLS, timeout=60)
            status, _ = hub.request("DELETE", f"/users/{USER}/server")
            hub.wait_server(ready=False, deadline_s=60)
            print(f"ok   {USER}'s server stopped ({status})")
        except Exception as e:  # report the hub's log with any failure
            problems.append(f"{type(e).__name__}: {e}")
        finally:
            hub.stop()
            if problems:
                with open(os.path.join(tmp, "hub.log"), encoding="utf-8", errors="replace") as f:
                    print("--- hub log (last 40 lines) ---\n" + "".join(f.readlines()[-40:]))
        # Nothing may outlive the test: hub, proxy, single-user server, kernel.
        deadline = time.monotonic() + 10
        left = processes_with(marker)
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = processes_with(marker)
        containers = leftover_containers(marker) if opts.image else []
        if containers:
            problems.append(f"containers left: {containers}")
            subprocess.run(["podman", "--storage-driver", os.environ.get("RIPPLE_STORAGE_DRIVER", "vfs"),
                            "rm", "--force", *containers], capture_output=True, timeout=120)
        if left:
            problems.append(f"processes left running: {left}")
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        else:
            print("ok   hub, proxy, server and kernel all stopped")
    for p in problems:
        print(f"FAIL {p}")
    print(f"local JupyterHub test {'failed' if problems else 'passed'} in {time.monotonic() - started:.1f}s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
