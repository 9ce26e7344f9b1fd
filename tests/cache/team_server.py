"""A team cache server for tests: Debian's nginx with WebDAV PUT, unprivileged, in a temporary directory.

Serves <root>/ac/<sha256> and <root>/cas/<sha256> on 127.0.0.1 (a free port), accepts PUT (dav_methods PUT) and,
with a token, only requests that carry "Authorization: Bearer <token>". Stops itself at close() or when the test
process exits (it is started in the foreground, daemon off, as our child).
"""
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TeamCacheServer:
    def __init__(self, directory, token=None, tls=False):
        self.directory = Path(directory)
        self.root = self.directory / "root"
        self.token = token
        self.tls = tls
        self.port = free_port()
        self.process = None
        for folder in ("root/ac", "root/cas", "temp", "logs"):
            (self.directory / folder).mkdir(parents=True, exist_ok=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        if tls:
            # A certificate for 127.0.0.1, self-signed: clients trust it as their CA file (self.certificate).
            self.certificate = self.directory / "server.crt"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", str(self.directory / "server.key"), "-out", str(self.certificate)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def config(self):
        d = self.directory
        # As root (CI), workers would switch to "nobody" and could not write the temp dir: keep them root.
        user = "user root;\n" if os.geteuid() == 0 else ""
        auth = ""
        if self.token:
            auth = f'if ($http_authorization != "Bearer {self.token}") {{ return 401; }}\n'
        tls = ""
        if self.tls:
            tls = f"        ssl_certificate {d}/server.crt;\n        ssl_certificate_key {d}/server.key;\n"
        temps = "\n".join(f"    {name}_temp_path {d}/temp/{name};"
                          for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return f"""{user}daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log;
events {{ worker_connections 64; }}
http {{
{temps}
    access_log {d}/logs/access.log;
    server {{
        listen 127.0.0.1:{self.port}{" ssl" if self.tls else ""};
{tls}        root {self.root};
        client_max_body_size 1g;
        location / {{
            {auth}dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw;
        }}
    }}
}}
"""

    def start(self):
        conf = self.directory / "nginx.conf"
        conf.write_text(self.config())
        self.process = subprocess.Popen([NGINX, "-p", str(self.directory), "-c", str(conf),
                                         "-e", str(self.directory / "logs" / "error.log")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("nginx did not start: " + self.process.stderr.read().decode())
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not listen within 10 s")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def clear(self):
        """Empties the cache the server holds."""
        for kind in ("ac", "cas"):
            for path in (self.root / kind).iterdir():
                path.unlink()

    def files(self, kind):
        return sorted((self.root / kind).iterdir())

    def put(self, path, data):
        request = urllib.request.Request(self.url + path, data=data, method="PUT")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status

    def requests(self):
        log = self.directory / "logs" / "access.log"
        return log.read_text().splitlines() if log.exists() else []
