"""Bounded requests: a body is counted as it streams, whatever its headers say, and an
admin-only route refuses an anonymous caller before reading the body.

The portal runs under uvicorn in a child process on loopback; a raw socket streams a
chunked body (no Content-Length) and counts how much the server took before it answered
and closed; the child's memory comes from /proc/PID/status."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from config.settings import Settings
from domain.db import make_engine, upgrade
from portal.app import create_app
from tests.conftest import ROOT, make_settings
from tests.portal_world import (
    BASE,
    Clock,
    World,
    api_token,
    build_world,
    login,
)

MIB = 1024 * 1024
STREAM_TOTAL = 50 * MIB
CHUNK = 64 * 1024
BOUNDARY = "roadmapboundary"
UPLOAD_LIMIT = 256 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVER = textwrap.dedent(
    """
    import sys
    import uvicorn
    from config.settings import Settings
    from domain.db import make_engine
    from portal.app import create_app

    settings = Settings()
    app = create_app(settings, make_engine(settings.effective_database_url))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                lifespan="off")
    """
)


@dataclass
class Served:
    world: World
    settings: Settings
    engine: Engine
    process: subprocess.Popen[bytes]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    overrides: dict[str, object] = {
        "portal_url": f"http://127.0.0.1:{port}",
        "upload_max_bytes": UPLOAD_LIMIT,
        "link_days_after_due": 100_000,  # the child runs on the real clock
    }
    settings = make_settings(tmp_path, **overrides)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    world = build_world(settings, engine)
    env = {
        **os.environ,
        "ROADMAP_VAR_DIR": str(settings.var_dir),
        "ROADMAP_DATABASE_URL": settings.effective_database_url,
        "ROADMAP_PORTAL_URL": settings.portal_url,
        "ROADMAP_UPLOAD_MAX_BYTES": str(UPLOAD_LIMIT),
        "ROADMAP_LINK_DAYS_AFTER_DUE": "100000",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)], cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120  # a start-up deadline: a loaded machine is slow
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the portal did not start"
        time.sleep(0.1)
    try:
        yield Served(world, settings, engine, process, port)
    finally:
        process.terminate()
        process.wait(10)
        engine.dispose()


@dataclass
class Streamed:
    sent: int  # body bytes the server took before it answered or closed
    status: int | None
    response: bytes


def stream_chunked(
    port: int, path: str, headers: dict[str, str], total: int = STREAM_TOTAL
) -> Streamed:
    """POST `total` bytes with Transfer-Encoding: chunked; stop when the server answers
    or closes. A small send buffer keeps the count close to what the server read."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Transfer-Encoding: chunked"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="order"; '
        'filename="big.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\n'
    ).encode()
    sent = 0
    data = b"0" * CHUNK
    first = True
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            payload = part + data[len(part) :] if first else data
            first = False
            sock.sendall(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            sent += len(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass
    response = b""
    try:
        sock.settimeout(10)
        while chunk := sock.recv(65536):
            response += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        sock.close()
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None
    return Streamed(sent, status, response)


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def test_a_chunked_50_mb_body_at_an_answer_link_is_refused_before_2_mb(served: Served) -> None:
    before = rss_kib(served.process.pid)
    got = stream_chunked(served.port, served.world.path, MULTIPART)
    after = rss_kib(served.process.pid)
    assert got.status == 413, got.response[:300]
    assert "Слишком большой".encode() in got.response
    assert got.sent < 2 * 1000 * 1000, got.sent
    assert after - before < 20 * 1024, (before, after)
    uploads = served.settings.uploads_dir
    assert not uploads.exists() or not any(p.is_file() for p in uploads.rglob("*"))


def test_the_api_answer_route_counts_the_stream_too(served: Served) -> None:
    path = f"/api/tasks/{served.world.token}/answer"
    got = stream_chunked(served.port, path, MULTIPART)
    assert got.status == 413, got.response[:300]
    assert got.sent < 2 * 1000 * 1000, got.sent


def test_a_damaged_answer_link_is_refused_before_its_body_is_read(served: Served) -> None:
    got = stream_chunked(served.port, served.world.path[:-3] + "xyz", MULTIPART)
    assert got.status == 403, got.response[:300]
    assert got.sent < 512 * 1024, got.sent


def test_an_anonymous_body_at_an_admin_route_is_refused_before_it_is_read(
    served: Served,
) -> None:
    before = rss_kib(served.process.pid)
    api = stream_chunked(
        served.port, "/api/admin/tasks/1/return", {"Content-Type": "application/json"}
    )
    page = stream_chunked(
        served.port,
        f"/admin/tasks/{served.world.task_id}/return",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    after = rss_kib(served.process.pid)
    assert api.status == 401, api.response[:300]
    assert page.status == 403, page.response[:300]
    assert api.sent < 512 * 1024 and page.sent < 512 * 1024, (api.sent, page.sent)
    assert after - before < 20 * 1024, (before, after)


def test_an_administrator_cannot_send_a_large_body_either(served: Served) -> None:
    got = stream_chunked(
        served.port,
        "/api/admin/tasks/1/return",
        {"Content-Type": "application/json", **api_token(served.engine)},
    )
    assert got.status == 413, got.response[:300]
    assert got.sent < 2 * 1000 * 1000, got.sent


def test_forty_parallel_logins_keep_the_portal_small(served: Served) -> None:
    """Each argon2 check takes about 64 MiB: they run a few at a time, not forty."""
    before = rss_kib(served.process.pid)
    peak = before
    done = False

    def attempt(n: int) -> int:
        with httpx.Client(base_url=served.base, timeout=120) as http:
            form = http.get("/admin/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert csrf is not None
            return http.post(
                "/admin/login",
                data={
                    "email": f"user{n}@imcso.example",
                    "password": f"wrong-{n}",
                    "csrf_token": csrf[1],
                },
            ).status_code

    with ThreadPoolExecutor(40) as pool:
        futures = [pool.submit(attempt, n) for n in range(40)]
        while not done:
            peak = max(peak, rss_kib(served.process.pid))
            done = all(f.done() for f in futures)
            time.sleep(0.02)
        statuses = [f.result() for f in futures]
    assert set(statuses) <= {401, 429, 503}, statuses
    assert 429 in statuses  # the address is held back after a few failures
    assert peak - before < 300 * 1024, (before, peak)


# --- in-process checks (TestClient) ---------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, World]]:
    settings = make_settings(tmp_path)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    world = build_world(settings, engine)
    from tests.portal_world import START

    yield TestClient(create_app(settings, engine, Clock(START)), base_url=BASE), world
    engine.dispose()


HUGE = str(2**64)


def test_ids_past_2_63_are_not_found_rather_than_a_server_error(
    client: tuple[TestClient, World],
) -> None:
    http, world = client
    assert login(http).status_code == 303
    for path in (
        f"/admin/tasks/{HUGE}",
        f"/admin/files/{HUGE}",
        f"{world.path}/files/{HUGE}",
        f"/admin/tasks/{2**63}",
    ):
        response = http.get(path, follow_redirects=False)
        assert response.status_code == 404, (path, response.status_code)
    listing = http.get(f"/admin/tasks?item={HUGE}&org={HUGE}")
    assert listing.status_code == 200
    api = http.post(f"/api/admin/tasks/{HUGE}/accept", headers=api_token(world.engine))
    assert api.status_code == 404, api.text


def test_a_body_over_the_limit_with_an_honest_length_is_refused_at_once(
    client: tuple[TestClient, World],
) -> None:
    http, world = client
    assert login(http).status_code == 303
    response = http.post(
        f"/admin/tasks/{world.task_id}/return",
        content=b"reason=" + b"x" * (300 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert "Слишком большой" in response.text
