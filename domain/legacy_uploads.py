"""Uploads that releases before migration 0009 kept only under one machine's uploads
folder: moved into the domain database (`file_blob`) by whichever machine holds them,
the next time it starts, so that every machine's portal serves them and a backup of the
database holds them.

An upgrade alone cannot do this: it may run on a machine that does not have the files.
Every start therefore looks once (one query for rows without bytes in the database) and
adopts what it finds on its own disk; a file whose size or SHA-256 does not match its row
is left where it is (still read from there). The files themselves are not deleted."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from domain.evidence import EvidenceFile, FileBlob

log = logging.getLogger(__name__)


def _inside(base: Path, stored_name: str) -> Path | None:
    path = (base / stored_name).resolve()
    return path if base in path.parents else None


def adopt_legacy_uploads(engine: Engine, uploads_dir: Path) -> int:
    """Load every upload kept only in `uploads_dir` into the database; returns how many.
    Safe to run on several machines at once: a row is taken by one of them."""
    if not uploads_dir.is_dir():
        return 0
    base = uploads_dir.resolve()
    with Session(engine) as session:
        legacy = session.exec(
            select(
                EvidenceFile.id, EvidenceFile.stored_name, EvidenceFile.size, EvidenceFile.sha256
            )
            .where(col(EvidenceFile.blob_id).is_(None))
            .order_by(col(EvidenceFile.id))
        ).all()
    adopted = 0
    for file_id, stored_name, size, sha256 in legacy:
        path = _inside(base, stored_name)
        if path is None or not path.is_file():
            continue  # another machine's, or gone
        try:
            content = path.read_bytes()
        except OSError as exc:
            log.warning("upload %s not moved into the database: %s", path, exc)
            continue
        if len(content) != size or hashlib.sha256(content).hexdigest() != sha256:
            log.warning("upload %s not moved into the database: it differs from its record", path)
            continue
        with Session(engine) as session:
            blob = FileBlob(content=content)
            session.add(blob)
            session.flush()
            taken = session.execute(
                update(EvidenceFile)
                .where(col(EvidenceFile.id) == file_id, col(EvidenceFile.blob_id).is_(None))
                .values(blob_id=blob.id)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                session.commit()
                adopted += 1
            else:  # another machine moved it meanwhile
                session.rollback()
    if adopted:
        log.info("%d upload(s) of an earlier release moved into the database", adopted)
    return adopted
