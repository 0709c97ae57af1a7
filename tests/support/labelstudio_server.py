"""A real Label Studio server for the end-to-end test, and a small client for its REST API.

Label Studio (PyPI ``label-studio``) pins Django, pydantic and friends that need not agree
with ours, so it lives in its own virtual environment; the test finds its executable through
the ``ACTIVEKIT_LABEL_STUDIO`` environment variable (``.ci/run`` creates that environment and
sets the variable). :func:`label_studio_server` starts it on 127.0.0.1 with a temporary data
directory and a preset user and API token, waits for ``/health`` and stops it afterwards.

The settings that matter, read from Label Studio's own source (1.23):

- ``--enable-legacy-api-token``: the organisation then accepts ``Authorization: Token <key>``,
  and ``LABEL_STUDIO_USER_TOKEN`` becomes that key (a personal access token would need a JWT
  exchange first).
- ``ML_BLOCK_LOCAL_IP=false`` and ``SSRF_PROTECTION_ENABLED=false``: by default Label Studio
  refuses to call an ML backend or a webhook on a local address, and ours is on 127.0.0.1.
- ``LATEST_VERSION_CHECK=false``, ``COLLECT_ANALYTICS=false``, empty ``SENTRY_DSN``: a test
  server asks nothing of the network.

The client speaks plain HTTP through :mod:`urllib`: the endpoints it calls are the ones
``label-studio-sdk`` wraps, and the SDK (which pulls in OpenCV, NLTK and lxml) stays out of
our test environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ENV_VAR",
    "LabelStudioAPI",
    "LabelStudioServer",
    "label_studio_executable",
    "label_studio_server",
]

#: The environment variable naming the ``label-studio`` executable.
ENV_VAR = "ACTIVEKIT_LABEL_STUDIO"

USERNAME = "activekit-ci@example.com"
PASSWORD = "activekit-ci-password"
TOKEN = "activekit0ci0token0for0label0studio"

#: How long the server may take to answer ``/health`` (a fresh data directory runs every
#: migration first: about 30 s on 2 cores).
START_TIMEOUT_S = 180.0


def label_studio_executable():
    """The ``label-studio`` executable named by ``ACTIVEKIT_LABEL_STUDIO``, or ``None`` when
    the variable is unset. A variable naming a missing file is an error, not a skip."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return None
    path = Path(value)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(f"{ENV_VAR}={value!r} is not an executable file")
    return path


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (a small race window remains)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabelStudioServer:
    """A running server: its base URL, the preset user's API token, its log file."""

    url: str
    token: str
    log: Path
    startup_s: float

    def api(self):
        return LabelStudioAPI(self.url, self.token)

    def log_tail(self, n=40):
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


def _environment(data_dir):
    env = dict(os.environ)
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_USERNAME=USERNAME,
        LABEL_STUDIO_PASSWORD=PASSWORD,
        LABEL_STUDIO_USER_TOKEN=TOKEN,
        ML_BLOCK_LOCAL_IP="false",
        SSRF_PROTECTION_ENABLED="false",
        LATEST_VERSION_CHECK="false",
        COLLECT_ANALYTICS="false",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        PYTHONUNBUFFERED="1",
    )
    # Our pytest settings must not leak into Label Studio's interpreter.
    for key in ("PYTHONWARNINGS", "PYTHONPATH", "DJANGO_SETTINGS_MODULE"):
        env.pop(key, None)
    return env


def _healthy(url):
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _stop(process):
    """SIGTERM to the server's own process group (it was started in a new session), then
    SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@contextlib.contextmanager
def label_studio_server(executable, data_dir, *, port=None, timeout=START_TIMEOUT_S):
    """Start ``label-studio`` on 127.0.0.1 with ``data_dir`` as its data directory; yield a
    :class:`LabelStudioServer` once ``/health`` answers; stop it on exit."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir / "label-studio.log"
    command = [
        str(executable),
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--enable-legacy-api-token",
        "--log-level",
        "WARNING",
    ]
    start = time.monotonic()
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=data_dir,
            env=_environment(data_dir),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LabelStudioServer(url=url, token=TOKEN, log=log, startup_s=float("nan"))
    try:
        while not _healthy(url):
            if process.poll() is not None:
                raise RuntimeError(
                    f"label-studio exited with status {process.returncode} before answering "
                    f"{url}/health; its log:\n{server.log_tail()}"
                )
            if time.monotonic() - start > timeout:
                raise RuntimeError(
                    f"label-studio did not answer {url}/health within {timeout:.0f} s; its "
                    f"log:\n{server.log_tail()}"
                )
            time.sleep(0.25)
        server.startup_s = time.monotonic() - start
        yield server
    finally:
        _stop(process)


class LabelStudioError(RuntimeError):
    """A Label Studio API call answered with an error status."""


class LabelStudioAPI:
    """The few REST calls the end-to-end test makes, with the legacy token header."""

    def __init__(self, url, token, timeout=120):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method, path, payload=None, **query):
        url = f"{self.url}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Token {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:2000]
            raise LabelStudioError(f"{method} {path} -> {exc.code}: {detail}") from None
        return json.loads(body) if body else None

    def whoami(self):
        return self.request("GET", "/api/current-user/whoami")

    def create_project(self, title, label_config, **fields):
        return self.request(
            "POST", "/api/projects", {"title": title, "label_config": label_config, **fields}
        )

    def update_project(self, project, **fields):
        return self.request("PATCH", f"/api/projects/{project}", fields)

    def project(self, project):
        return self.request("GET", f"/api/projects/{project}")

    def import_tasks(self, project, tasks):
        return self.request("POST", f"/api/projects/{project}/import", tasks)

    def tasks(self, project):
        """Every task of ``project`` (id and data), through the paged task list."""
        tasks, page = [], 1
        while True:
            try:
                body = self.request(
                    "GET", "/api/tasks", project=project, page=page, page_size=100, fields="all"
                )
            except LabelStudioError as exc:
                if " 404:" in str(exc):  # past the last page
                    return tasks
                raise
            batch = body["tasks"] if isinstance(body, dict) else body
            tasks.extend(batch)
            if len(batch) < 100:
                return tasks
            page += 1

    def add_ml_backend(self, project, url, title="activekit"):
        return self.request("POST", "/api/ml", {"project": project, "url": url, "title": title})

    def ml_backend(self, backend):
        return self.request("GET", f"/api/ml/{backend}")

    def train(self, backend):
        """The project's "Start training" for its ML backend."""
        return self.request("POST", f"/api/ml/{backend}/train", {})

    def retrieve_predictions(self, project):
        """Ask the project's ML backend for predictions of every task (the Data Manager's
        "Retrieve predictions" action)."""
        return self.request(
            "POST",
            "/api/dm/actions",
            {"selectedItems": {"all": True, "excluded": []}},
            id="retrieve_tasks_predictions",
            project=project,
        )

    def predictions(self, project):
        return self.request("GET", "/api/predictions", project=project)

    def create_annotation(self, task, result, lead_time=None):
        payload = {"result": result}
        if lead_time is not None:
            payload["lead_time"] = lead_time
        return self.request("POST", f"/api/tasks/{task}/annotations", payload)

    def update_annotation(self, annotation, result):
        return self.request("PATCH", f"/api/annotations/{annotation}", {"result": result})

    def delete_annotation(self, annotation):
        return self.request("DELETE", f"/api/annotations/{annotation}")

    def next_task(self, project):
        return self.request("GET", f"/api/projects/{project}/next")

    def webhooks(self, project):
        return self.request("GET", "/api/webhooks", project=project)
