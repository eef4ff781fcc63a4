"""Opening the configured database: schema upgraded, roadmap file loaded."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine

from config.settings import Settings, get_settings
from domain.db import make_engine, session_scope, upgrade
from domain.roadmap_file import load_roadmap_file, sync_roadmap


def open_engine(settings: Settings | None = None, *, sync: bool = True) -> Engine:
    """Every command works on an empty database: create or upgrade it, then load the
    roadmap file so that the items in the database are the ones in the file."""
    settings = settings or get_settings()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    if sync and settings.roadmap_file.exists():
        roadmap = load_roadmap_file(settings.roadmap_file)
        with session_scope(engine) as session:
            sync_roadmap(session=session, roadmap=roadmap)
    return engine


@lru_cache(maxsize=8)
def cached_engine(url: str) -> Engine:
    """One engine per URL for long-running processes (flows, the portal)."""
    settings = get_settings()
    return open_engine(settings.model_copy(update={"database_url": url}))
