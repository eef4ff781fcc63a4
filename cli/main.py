"""`roadmap`: the command line. Each module adds its own commands."""

from __future__ import annotations

import typer

from cli import (
    backup_cmd,
    check_cmd,
    cycle_cmd,
    deploy_cmd,
    inbox_cmd,
    orgs_cmd,
    portal_cmd,
    roadmap_cmd,
    roadmaps_cmd,
    schedule_cmd,
    summary_cmd,
)

app = typer.Typer(
    name="roadmap",
    help="The roadmap engine: a district's yearly roadmap run as scheduled Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (
    schedule_cmd,
    roadmap_cmd,
    roadmaps_cmd,
    orgs_cmd,
    cycle_cmd,
    deploy_cmd,
    summary_cmd,
    portal_cmd,
    backup_cmd,
):
    module.register(app)
inbox_cmd.register(app)
check_cmd.register(app)


if __name__ == "__main__":
    app()
