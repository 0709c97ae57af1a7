"""A real Label Studio server for the end-to-end test, driven through ``label-studio-sdk``.

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

The test drives the server through ``label-studio-sdk`` (:class:`LabelStudioSDK`). The SDK
comes with Label Studio, in its environment, and pulls in OpenCV, NLTK and lxml, so it stays
out of ours: the SDK calls run in a driver process started from Label Studio's interpreter
(this file with ``--sdk-driver``), one JSON line per call. This file imports only the
standard library at the top, so both interpreters can run it.
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
    "LabelStudioSDK",
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
    python: Path

    def sdk(self):
        """A :class:`LabelStudioSDK` client (close it, or use it in a ``with``)."""
        return LabelStudioSDK(self.python, self.url, self.token, self.log)

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
    server = LabelStudioServer(
        url=url,
        token=TOKEN,
        log=log,
        startup_s=float("nan"),
        python=Path(executable).parent / "python",
    )
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
    """A Label Studio API call failed."""


def get_json(url, token=None, timeout=30):
    """``GET url`` as JSON, with the legacy token header when ``token`` is given."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:2000]
        raise LabelStudioError(f"GET {url} -> {exc.code}: {detail}") from None


class LabelStudioSDK:
    """Label Studio's API through ``label-studio-sdk``, the way a user drives it.

    The SDK lives in Label Studio's virtual environment (``label-studio`` depends on it), not
    in ours: this class runs this file there as a driver process (``--sdk-driver``) and
    sends it one JSON line per call; the driver answers with the SDK's result as JSON (the
    pydantic models dumped as dicts) or the error's words.
    """

    def __init__(self, python, url, token, log):
        self._log = open(log, "ab")  # the driver's errors; closed in close()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONWARNINGS")}
        env["ACTIVEKIT_LABEL_STUDIO_TOKEN"] = token
        self._process = subprocess.Popen(
            [str(python), os.path.abspath(__file__), "--sdk-driver", url],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.url = url
        self.token = token

    def call(self, method, **kwargs):
        try:
            self._process.stdin.write(json.dumps({"method": method, "kwargs": kwargs}) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            raise LabelStudioError(
                f"the label-studio-sdk driver exited ({self._process.poll()}) during {method}; "
                "its errors are in the Label Studio log"
            )
        reply = json.loads(line)
        if "error" in reply:
            raise LabelStudioError(f"label-studio-sdk {method}: {reply['error']}")
        return reply["result"]

    def close(self):
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=15)
        self._process.stdout.close()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda **kwargs: self.call(method, **kwargs)

    def next_task(self, project):
        """The task Label Studio serves next (the SDK wraps no such call: plain HTTP)."""
        return get_json(f"{self.url}/api/projects/{project}/next", self.token)


def _sdk_operations(ls):
    """What the driver can do: the SDK calls the end-to-end test makes."""
    return {
        "whoami": lambda: ls.users.whoami(),
        "create_project": lambda title, label_config: ls.projects.create(
            title=title, label_config=label_config
        ),
        "update_project": lambda project, **fields: ls.projects.update(id=project, **fields),
        "import_tasks": lambda project, tasks: ls.projects.import_tasks(id=project, request=tasks),
        "tasks": lambda project: list(ls.tasks.list(project=project, fields="all")),
        "add_ml_backend": lambda project, url, title="activekit": ls.ml.create(
            project=project, url=url, title=title
        ),
        "webhooks": lambda project: ls.webhooks.list(project=str(project)),
        # The Data Manager's "Retrieve predictions" action on every task.
        "retrieve_predictions": lambda project: ls.actions.create(
            id="retrieve_tasks_predictions",
            project=project,
            selected_items={"all": True, "excluded": []},
        ),
        "predictions": lambda project: ls.predictions.list(project=project),
        "create_annotation": lambda task, result, lead_time=None: ls.annotations.create(
            id=task, result=result, lead_time=lead_time
        ),
        "update_annotation": lambda annotation, result: ls.annotations.update(
            id=annotation, result=result
        ),
        "delete_annotation": lambda annotation: ls.annotations.delete(id=annotation),
        # The project's "Start training" for its ML backend.
        "train": lambda backend: ls.ml.train(id=backend),
    }


def _as_json(value):
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "json"):  # pydantic 1
        return json.loads(value.json())
    return value


def _sdk_driver(url):
    """Run in Label Studio's virtual environment: one SDK call per line of stdin."""
    import sys

    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=url, api_key=os.environ["ACTIVEKIT_LABEL_STUDIO_TOKEN"])
    operations = _sdk_operations(ls)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = {"result": _as_json(operations[request["method"]](**request["kwargs"]))}
        except Exception as exc:  # the test process reports it
            reply = {"error": f"{type(exc).__name__}: {exc}"[:4000]}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--sdk-driver"]:
        _sdk_driver(sys.argv[2])
