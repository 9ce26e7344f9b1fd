"""ripple_lab_server.py: Debian's jupyter-server 1.23 plus what the JupyterLab 4 test front end needs from a server.
Must not know ripple: it serves the bundled test page (tests/clients/jupyterlab/app) and bridges the two server APIs
that JupyterLab 4's @jupyterlab/services expects from jupyter-server 2 and 1.23 lacks.

Run as `python3 -m ripple_lab_server [ServerApp options]` with this folder on PYTHONPATH and RIPPLE_LAB_BUNDLE set to the
folder that holds index.js and index.css (esbuild's output). The page is /lab-test/notebooks/<path>.

Bridges (both answer what jupyter-server 2 answers when it has nothing to say):
- GET /api/me: the identity API (jupyter-server 2.0). services' UserManager asks at start; a 404 leaves it never ready
  and logs an error in the page. Answered with an anonymous identity and no permissions.
- /api/events/subscribe: the event bus websocket (jupyter-server 2.0). services' EventManager connects at start and
  retries with backoff on a 404. Answered with a websocket that accepts and never sends (1.23 emits no events).
"""
import json
import os
import sys

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import url_path_join
from tornado import web, websocket

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{static}index.css">
<script id="jupyter-config-data" type="application/json">{config}</script>
</head>
<body class="jp-ThemedContainer">
<script src="{static}index.js"></script>
</body>
</html>
"""


class NotebookPageHandler(JupyterHandler):
    """The test front end's page for one notebook: JupyterLab's PageConfig plus the bundle."""

    @web.authenticated
    def get(self, path):
        base = self.base_url
        host = self.request.host
        config = {
            "baseUrl": base,
            "wsUrl": f"ws://{host}{base}",
            "token": self.token or "",
            "notebookPath": path,
            "terminalsAvailable": "false",
            "appName": "ripple JupyterLab 4 test front end",
        }
        # </script> cannot occur in the JSON: '<' is escaped.
        text = json.dumps(config).replace("<", "\\u003c")
        self.set_header("Cache-Control", "no-store")
        self.finish(PAGE.format(title=os.path.basename(path), static=url_path_join(base, "lab-test/static/"), config=text))


class IdentityHandler(JupyterHandler):
    """jupyter-server 2's GET /api/me, answered with an anonymous user."""

    @web.authenticated
    def get(self):
        name = "tester"
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({
            "identity": {"username": name, "name": name, "display_name": name, "initials": "T",
                         "avatar_url": None, "color": None},
            "permissions": {},
        }))


class SilentEventsHandler(websocket.WebSocketHandler, JupyterHandler):
    """jupyter-server 2's /api/events/subscribe: accepted, never written to (1.23 has no event bus)."""

    def get(self, *args, **kwargs):
        if not self.current_user:
            raise web.HTTPError(403)
        return super().get(*args, **kwargs)

    def on_message(self, message):
        pass


def _jupyter_server_extension_points():
    return [{"module": "ripple_lab_server"}]


def _load_jupyter_server_extension(serverapp):
    bundle = os.environ.get("RIPPLE_LAB_BUNDLE")
    if not bundle or not os.path.isfile(os.path.join(bundle, "index.js")):
        raise RuntimeError(f"RIPPLE_LAB_BUNDLE={bundle!r} holds no index.js: bundle the test front end first")
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [
        (url_path_join(base, r"lab-test/notebooks/(.*)"), NotebookPageHandler),
        (url_path_join(base, r"lab-test/static/(.*)"), web.StaticFileHandler, {"path": bundle}),
        (url_path_join(base, r"api/me"), IdentityHandler),
        (url_path_join(base, r"api/events/subscribe"), SilentEventsHandler),
    ])
    serverapp.log.info("ripple_lab_server: JupyterLab 4 test page at %slab-test/notebooks/<path>", base)


if __name__ == "__main__":
    sys.exit(ServerApp.launch_instance(jpserver_extensions={"ripple_lab_server": True}))
