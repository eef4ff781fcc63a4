"""Opening the configured database: schema upgraded, roadmap file loaded."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from config.settings import Settings, get_settings
from domain.db import make_engine, session_scope, upgrade
from domain.legacy_uploads import adopt_legacy_uploads
from domain.roadmap import Roadmap
from domain.roadmap_file import load_roadmap_file, sync_roadmap


def open_engine(settings: Settings | None = None, *, sync: bool = True) -> Engine:
    """Every command works on an empty database: create or upgrade it, and while it holds
    no roadmap, load the shipped one (ROADMAP_ROADMAP_FILE), so that a newcomer's first
    `tick` works with no set-up. From then on the database is the record: roadmaps are
    added or changed by `import-roadmap` and `load`."""
    settings = settings or get_settings()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    # uploads an earlier release kept on this machine's disk only: into the database
    adopt_legacy_uploads(engine, settings.uploads_dir)
    if sync and settings.roadmap_file.exists():
        try:
            with session_scope(engine) as session:
                if session.exec(select(Roadmap.id)).first() is None:
                    roadmap = load_roadmap_file(settings.roadmap_file)
                    sync_roadmap(session=session, roadmap=roadmap, now=datetime.now(UTC))
        except IntegrityError:
            pass  # another process starting at the same moment loaded it first
    return engine


@lru_cache(maxsize=8)
def cached_engine(url: str) -> Engine:
    """One engine per URL for long-running processes (flows, the portal)."""
    settings = get_settings()
    return open_engine(settings.model_copy(update={"database_url": url}))
