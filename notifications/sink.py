"""A local SMTP server (aiosmtpd) that saves every message it receives to a folder.

Used by `roadmap demo` as the district's mail server: real SMTP on loopback, so the
demo's mail goes through exactly the delivery code production uses.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (aiosmtpd needs a real port to start on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class _FolderHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        with self._lock:
            self.count += 1
            number = self.count
        first = envelope.rcpt_tos[0] if envelope.rcpt_tos else "unknown"
        safe = "".join(c if c.isalnum() or c in "@.-_" else "_" for c in first)[:80]
        (self.folder / f"{number:05d}-{safe}.eml").write_bytes(data)
        return "250 Message accepted"


class MailFolderSink:
    """`with MailFolderSink(folder) as sink:` listens on 127.0.0.1 and a free port."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.handler = _FolderHandler(folder)
        self._controller = Controller(self.handler, hostname=host, port=port or free_port(host))

    @property
    def host(self) -> str:
        return str(self._controller.hostname)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def count(self) -> int:
        return self.handler.count

    def start(self) -> MailFolderSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> MailFolderSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MailFolderSinkProcess:
    """The same server in a child process, so that receiving mail does not compete
    with the sender for this process's interpreter (the demo sends thousands)."""

    def __init__(self, folder: Path, host: str = "127.0.0.1") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.host = host
        self.port = free_port(host)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def count(self) -> int:
        return sum(1 for _ in self.folder.glob("*.eml"))

    def start(self) -> MailFolderSinkProcess:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "notifications.sink",
                str(self.folder),
                self.host,
                str(self.port),
            ],
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError("the local SMTP server exited at start")
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the local SMTP server did not start in 30 s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)

    def __enter__(self) -> MailFolderSinkProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str]) -> None:
    folder, host, port = Path(argv[0]), argv[1], int(argv[2])
    sink = MailFolderSink(folder, host=host, port=port).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
