"""The domain stays plain Python: no Prefect, no SMTP client, no clock reads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parent.parent / "domain"
FORBIDDEN_MODULES = ("prefect", "aiosmtplib", "smtplib", "aiosmtpd", "fastapi", "time")
CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("date", "today"),
    ("datetime", "today"),
}


@pytest.mark.parametrize("path", sorted(DOMAIN.glob("*.py")), ids=lambda p: p.name)
def test_a_domain_module_imports_no_infrastructure_and_reads_no_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN_MODULES, f"{path.name} imports {name}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name):
                assert (owner.id, node.func.attr) not in CLOCK_CALLS, (
                    f"{path.name}:{node.lineno} reads the clock; pass `now` in"
                )


# --- layers -------------------------------------------------------------------------------

NOTIFICATIONS = DOMAIN.parent / "notifications"
# The inbound side still applies a reply through the answer page's own code path
# (portal.answers.submit_answer) until that moves into services/; nothing else of the
# portal may be imported, and no other notifications module may import the portal at all.
INBOUND_USING_ANSWERS = {"inbound.py", "inbox.py", "imap.py"}


def imported_modules(path: Path) -> list[str]:
    """Every module a file imports, at the top or inside a function."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
    return names


@pytest.mark.parametrize(
    "path",
    sorted(p for p in NOTIFICATIONS.glob("*.py") if p.name not in INBOUND_USING_ANSWERS),
    ids=lambda p: p.name,
)
def test_notifications_do_not_import_the_portal(path: Path) -> None:
    portal = [n for n in imported_modules(path) if n.split(".")[0] == "portal"]
    assert portal == [], (
        f"notifications/{path.name} imports {portal}: move what it needs into services/"
    )


@pytest.mark.parametrize("name", sorted(INBOUND_USING_ANSWERS))
def test_the_inbound_side_takes_only_the_answer_path_from_the_portal(name: str) -> None:
    portal = {n for n in imported_modules(NOTIFICATIONS / name) if n.split(".")[0] == "portal"}
    assert portal <= {"portal.answers"}, f"notifications/{name} imports {sorted(portal)}"


def test_the_layer_test_sees_an_import_of_the_portal(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f() -> None:\n    from portal.links import issue_task_link\n")
    assert imported_modules(probe) == ["portal.links"]
