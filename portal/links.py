"""Personal links, as the portal uses them: the functions live in `services.links` (the
notifications issue links too, and they must not import the portal)."""

from __future__ import annotations

from services.links import (
    ORG_LINK_DAYS,
    LinkError,
    LinkProblem,
    issue_org_link,
    issue_task_link,
    resolve_org_token,
    resolve_task_token,
    revoke_links,
    task_link_expiry,
    task_link_revoked,
)

__all__ = [
    "ORG_LINK_DAYS",
    "LinkError",
    "LinkProblem",
    "issue_org_link",
    "issue_task_link",
    "resolve_org_token",
    "resolve_task_token",
    "revoke_links",
    "task_link_expiry",
    "task_link_revoked",
]
