"""A temporary Prefect server for one process's runs (`roadmap demo`).

Prefect starts the same thing by itself when PREFECT_API_URL is unset: its API app under
uvicorn in a child process (`prefect.server.api.server.SubprocessASGIServer`). The demo
starts it itself so that the server boots (on an empty database: all of Prefect's
migrations) while the demo sets its district up on the other core, rather than on the
first flow run; the demo process never imports the server's code; and automations,
which nothing here uses, do not evaluate every event.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from types import TracebackType

import httpx

from notifications.sink import free_port

HOST = "127.0.0.1"


class ServerDidNotStart(RuntimeError):
    pass


def flush_prefect_workers(timeout: float = 60.0) -> None:
    """Send the logs and events this process holds to the server they are meant for,
    and stop Prefect's workers that send them; the next run starts new ones, for the
    API then configured. Call it before a server stops (otherwise they are retried
    against a closed port at exit), and before switching a process to another server
    (a worker keeps the address it started with)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=timeout)
    EventsWorker.drain_all(timeout=timeout)


class TemporaryPrefectServer:
    """`with TemporaryPrefectServer() as server:` starts the child process at once;
    `server.wait_ready()` blocks until its API answers and returns its URL. The server
    keeps its database in PREFECT_HOME (as Prefect's own temporary server does)."""

    def __init__(self, *, startup_timeout: float = 120.0) -> None:
        self.port = free_port(HOST)
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}/api"

    def start(self) -> None:
        env = {
            **os.environ,
            # as Prefect's own temporary server: no UI, the services of an ephemeral one
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL", None)
        self._started = time.monotonic()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "prefect.server.api.server:create_app",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--log-level",
                "error",
                "--lifespan",
                "on",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
        )

    def wait_ready(self) -> str:
        """The API's URL once `/api/health` answers; ServerDidNotStart if the process
        ends or the start-up timeout passes first."""
        assert self.process is not None, "start() first"
        deadline = self._started + self.startup_timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise ServerDidNotStart(
                        f"временный сервер Prefect завершился с кодом {self.process.returncode}"
                    )
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return self.api_url
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise ServerDidNotStart(
                        f"временный сервер Prefect не запустился за {self.startup_timeout:.0f} с"
                    )
                time.sleep(0.1)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> TemporaryPrefectServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
