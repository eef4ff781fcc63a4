"""A temporary Prefect server for one process's runs (`roadmap demo`).

Prefect starts the same thing by itself when PREFECT_API_URL is unset: its API app under
uvicorn in a child process (`prefect.server.api.server.SubprocessASGIServer`). The demo
starts it itself so that the server boots (on an empty database: all of Prefect's
migrations) while the demo sets its district up on the other core, rather than on the
first flow run; the demo process never imports the server's code; and automations,
which nothing here uses, do not evaluate every event.

An empty Prefect database costs Prefect about 12 s of migrations on this machine (every
revision since Prefect 2, most of them rebuilding SQLite tables), against 4 s to start
on a migrated one. The first migrated database of an installation and Prefect version is
kept (the database right after the server is ready: schema and block types, no runs) and
every later temporary server on an empty PREFECT_HOME starts from a copy of it; `./run
setup` makes it right after installing (`python -m flows.temporary_server`).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from importlib.metadata import version
from pathlib import Path
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


def template_dir() -> Path:
    """Where this installation keeps a migrated, empty Prefect database (one per Prefect
    version: another version's schema differs)."""
    return Path(sys.prefix) / "var" / "roadmap-engine" / f"prefect-{version('prefect')}"


def prefect_database() -> Path | None:
    """The SQLite file the server will use when it is the default one in PREFECT_HOME;
    None when Prefect is configured for another database (nothing to seed or keep).
    Read from the environment now, as the server's process will read it (a process's
    current Prefect settings keep the environment Prefect was imported with)."""
    from prefect.settings import Settings

    settings = Settings()
    url = settings.server.database.connection_url
    path = settings.home / "prefect.db"
    default = f"sqlite+aiosqlite:///{path.as_posix()}"
    return path if url is not None and url.get_secret_value() == default else None


def seed_from_template(database: Path | None) -> bool:
    """Copy the kept migrated database into an empty PREFECT_HOME (`database`, as
    `prefect_database` names it); False when there is none to copy or the home already has
    its database."""
    template = template_dir()
    if database is None or database.exists() or not (template / database.name).is_file():
        return False
    database.parent.mkdir(parents=True, exist_ok=True)
    for kept in template.iterdir():
        shutil.copy2(kept, database.parent / kept.name)
    return True


def keep_as_template(database: Path | None) -> bool:
    """Keep the freshly migrated `database` (of a server that is ready and has run
    nothing) as this installation's template; False when one is kept already or the
    installation's folder is not writable (every start then migrates, as Prefect does)."""
    target = template_dir()
    if database is None or not database.is_file() or (target / database.name).exists():
        return False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    except OSError:
        return False
    try:
        # SQLite's online backup: a consistent copy while the server holds the file
        with (
            closing(sqlite3.connect(database)) as source,
            closing(sqlite3.connect(staging / database.name)) as copy,
        ):
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
        memo = database.parent / "memo_store.toml"  # Prefect's note that block types are registered
        if memo.is_file():
            shutil.copy2(memo, staging / memo.name)
        staging.chmod(0o755)
        staging.rename(target)  # atomic; refused if another process kept one first
        return True
    except (OSError, sqlite3.Error):
        shutil.rmtree(staging, ignore_errors=True)
        return False


class TemporaryPrefectServer:
    """`with TemporaryPrefectServer() as server:` starts the child process at once;
    `server.wait_ready()` blocks until its API answers and returns its URL. The server
    keeps its database in PREFECT_HOME (as Prefect's own temporary server does); an
    empty PREFECT_HOME starts from the installation's kept migrated database, or, when
    there is none yet, its own migrated database is kept once the server is ready."""

    def __init__(self, *, startup_timeout: float = 120.0) -> None:
        self.port = free_port(HOST)
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.seeded = False
        self._keep: Path | None = None  # a database migrated from empty, to be kept
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
        database = prefect_database()
        self.seeded = seed_from_template(database)
        self._keep = database if database is not None and not database.exists() else None
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
                        if self._keep is not None:
                            keep_as_template(self._keep)
                            self._keep = None
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


def main() -> None:
    """`python -m flows.temporary_server`: keep a migrated Prefect database for this
    installation now (set-up runs it), so that no demo waits for Prefect's migrations."""
    if (template_dir() / "prefect.db").is_file():
        if "--quiet-if-kept" not in sys.argv:
            print(f"Prefect's migrated database is kept already: {template_dir()}")
        return
    with tempfile.TemporaryDirectory(prefix="prefect-home-") as home:
        os.environ["PREFECT_HOME"] = home
        if prefect_database() is None:
            # never start a server (which migrates) on a database configured elsewhere
            print("Prefect is set up for another database (PREFECT_*_DATABASE_*): none kept")
            return
        print("==> migrating an empty Prefect database once for this installation")
        started = time.monotonic()
        with TemporaryPrefectServer() as server:
            server.wait_ready()
        if not (template_dir() / "prefect.db").is_file():
            raise SystemExit(f"Prefect's migrated database could not be kept in {template_dir()}")
        print(
            f"Prefect's database migrated in {time.monotonic() - started:.0f} s and kept: "
            f"{template_dir()}"
        )


if __name__ == "__main__":
    main()
