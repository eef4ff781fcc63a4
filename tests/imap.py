"""A real IMAP server on loopback for the tests: Debian's dovecot with a throw-away
config (plaintext login, one passwd-file user, a maildir in a temporary folder), started
as a child process (`dovecot -F -c CONF`) and stopped at the end.

Dovecot refuses to run mail processes as root, so the mail folder belongs to the
`dovecot` system user the package creates; the folder is made outside pytest's private
temporary tree (which other users cannot enter).
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from notifications.sink import free_port

USER = "centre"
PASSWORD = "inbox-secret"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {uid}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
"""


class Dovecot:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="roadmap-dovecot-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Dovecot:
        if not os.path.exists(DOVECOT):
            raise RuntimeError(
                "dovecot is not installed: `./run test` installs dovecot-imapd "
                "(apt-get install dovecot-imapd)"
            )
        user = pwd.getpwnam("dovecot")
        self.root.chmod(0o755)
        for sub in ("mail", "home"):
            (self.root / sub).mkdir()
            os.chown(self.root / sub, user.pw_uid, user.pw_gid)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        conf = self.root / "dovecot.conf"
        conf.write_text(
            CONF.format(root=self.root, port=self.port, uid=user.pw_uid, gid=user.pw_gid)
        )
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with self.client():
                    return self
            except (OSError, imaplib.IMAP4.error):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dovecot did not start: {self.log()}") from None
                time.sleep(0.1)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        conn.login(USER, PASSWORD)
        return conn

    def append(self, raw: bytes, mailbox: str = "INBOX") -> None:
        """Deliver a message the way the tests do: IMAP APPEND."""
        with self.client() as conn:
            status, data = conn.append(mailbox, None, None, raw)
            assert status == "OK", data

    def flagged(self, mailbox: str = "INBOX") -> tuple[list[int], list[int]]:
        """(processed, not yet processed) UIDs in a mailbox."""
        with self.client() as conn:
            conn.select(mailbox)
            done = conn.uid("SEARCH", "KEYWORD", "$RoadmapDone")[1][0].split()
            todo = conn.uid("SEARCH", "UNKEYWORD", "$RoadmapDone")[1][0].split()
            return [int(u) for u in done], [int(u) for u in todo]

    def count(self, mailbox: str) -> int:
        with self.client() as conn:
            status, data = conn.select(mailbox, readonly=True)
            return int(data[0]) if status == "OK" and data[0] else 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
