"""The layers hold: the domain stays plain Python (no Prefect, no SMTP client, no clock
reads), and no module imports one of a higher layer (the contracts in pyproject.toml,
checked by import-linter; a synthetic tree shows the check catches each kind of breach)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

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

ROOT = DOMAIN.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("cli", "flows", "portal", "services", "notifications", "reports", "config", "domain")


def lint_imports(where: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the packages below `where`, and on nothing installed."""
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(config)],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_project_keeps_every_layer_contract() -> None:
    run = lint_imports(ROOT, ROOT / "pyproject.toml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def _ini_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return "".join(f"\n    {v}" for v in value)
    return str(value)


def project_contracts_as_ini() -> str:
    """pyproject.toml's import-linter settings, word for word, in the INI form."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    settings = dict(config["tool"]["importlinter"])
    contracts = settings.pop("contracts")
    lines = ["[importlinter]"]
    lines += [f"{key} = {_ini_value(value)}" for key, value in settings.items()]
    for contract in contracts:
        contract = dict(contract)
        lines.append(f"[importlinter:contract:{contract.pop('id')}]")
        lines += [f"{key} = {_ini_value(value)}" for key, value in contract.items()]
    return "\n".join(lines) + "\n"


def synthetic_tree(tmp_path: Path, module: str = "", source: str = "") -> Path:
    """Empty packages named like the project's, with `source` as `module` (a/b.py)."""
    for name in PACKAGES:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
        (tmp_path / name / "base.py").write_text("")
    if module:
        (tmp_path / module).write_text(source)
    (tmp_path / ".importlinter").write_text(project_contracts_as_ini())
    return tmp_path / ".importlinter"


def test_the_contracts_pass_a_tree_that_keeps_the_layers(tmp_path: Path) -> None:
    source = (
        "import domain.base\nimport config.base\nimport services.base\n"
        "import notifications.base\nimport portal.base\nimport flows.base\n"
    )
    config = synthetic_tree(tmp_path, "cli/main.py", source)
    run = lint_imports(tmp_path, config)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Analyzed 17 files" in run.stdout  # the synthetic tree, not the installed project


IMPORTED = re.compile(r"(?:from|import) ([\w.]+)")
BREACHES = [
    ("notifications/inbox.py", "from portal.base import x\n", "do not import the portal"),
    (
        "services/answers.py",
        "def f() -> None:\n    import portal.base\n",
        "do not import the portal",
    ),
    ("notifications/outbox.py", "import flows.base\n", "cli -> flows"),
    ("reports/summary.py", "import portal.base\n", "cli -> flows"),
    ("portal/app.py", "import cli.base\n", "cli -> flows"),
    ("domain/tasks.py", "import services.base\n", "cli -> flows"),
    ("domain/tasks.py", "import config.base\n", "cli -> flows"),
    ("domain/tasks.py", "import prefect\n", "imports no Prefect"),
    ("domain/emails.py", "from aiosmtplib import send\n", "imports no Prefect"),
]


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    BREACHES,
    ids=[f"{m}->{IMPORTED.findall(s)[0]}" for m, s, _ in BREACHES],
)
def test_the_contracts_catch_a_lower_layer_importing_a_higher_one(
    tmp_path: Path, module: str, source: str, broken: str
) -> None:
    config = synthetic_tree(tmp_path, module, source)
    run = lint_imports(tmp_path, config)
    assert run.returncode != 0, run.stdout
    broken_lines = [line for line in run.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(broken in line for line in broken_lines), run.stdout
