"""`roadmap portal` (the answer portal alone) and `roadmap admin create` (the centre's
administrator accounts for the review pages)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from cli.common import fail, no_traceback, settings_or_exit
from config.runtime import open_engine
from domain.db import session_scope
from portal.auth import AdminError, create_admin, deactivate_admin

console = Console(highlight=False)

admin_app = typer.Typer(
    help="Administrator accounts of the centre (review of answers on the portal).",
    no_args_is_help=True,
)


@admin_app.command("create")
@no_traceback
def admin_create(
    email: Annotated[str, typer.Argument(help="The administrator's email (the login).")],
    name: Annotated[str, typer.Option("--name", help="Full name shown on the pages.")] = "",
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Set a new password for an existing account.")
    ] = False,
) -> None:
    """Create an administrator; the password is asked twice (or read from stdin)."""
    settings = settings_or_exit()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Пароль", hide_input=True, confirmation_prompt=True)
    engine = open_engine(settings)
    try:
        with session_scope(engine) as session:
            admin = create_admin(
                session=session,
                email=email,
                password=password,
                name=name,
                now=datetime.now(UTC),
                replace=replace,
            )
            address = admin.email
    except AdminError as exc:
        raise fail(str(exc), 2) from None
    finally:
        engine.dispose()
    action = "пароль сменён: администратор" if replace else "создан администратор"
    console.print(f"{action} {address}; вход: {settings.portal_url}/admin/login", soft_wrap=True)


@admin_app.command("deactivate")
@no_traceback
def admin_deactivate(
    email: Annotated[str, typer.Argument(help="The administrator's email (the login).")],
) -> None:
    """Switch an administrator off; their open sessions end at once."""
    settings = settings_or_exit()
    engine = open_engine(settings)
    try:
        with session_scope(engine) as session:
            ended = deactivate_admin(session=session, email=email, now=datetime.now(UTC))
    except AdminError as exc:
        raise fail(str(exc), 2) from None
    finally:
        engine.dispose()
    console.print(
        f"администратор {email.strip().lower()} отключён; завершено сеансов: {ended}",
        soft_wrap=True,
    )


@admin_app.command("token")
@no_traceback
def admin_token(
    email: Annotated[str, typer.Argument(help="The administrator's email (the login).")],
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Revoke every API token of the administrator.")
    ] = False,
) -> None:
    """A personal API token for the JSON API (`Authorization: Bearer …`), shown once; with
    --revoke, every token of the administrator stops working at once."""
    from portal.api_tokens import issue_token, revoke_tokens

    settings = settings_or_exit()
    engine = open_engine(settings)
    try:
        with session_scope(engine) as session:
            if revoke:
                count = revoke_tokens(session=session, email=email, now=datetime.now(UTC))
            else:
                token = issue_token(session=session, email=email, now=datetime.now(UTC))
    except AdminError as exc:
        raise fail(str(exc), 2) from None
    finally:
        engine.dispose()
    who = email.strip().lower()
    if revoke:
        console.print(f"отозвано API-токенов {who}: {count}", soft_wrap=True)
        return
    print(token)
    Console(stderr=True, highlight=False).print(
        f"API-токен для {who} (показан один раз, храните как пароль): "
        f"Authorization: Bearer <токен>; отозвать: roadmap admin token {who} --revoke",
        soft_wrap=True,
    )


@no_traceback
def portal_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)
    ] = 8080,
) -> None:
    """Run the answer portal alone (personal links, the centre's review, the JSON API)."""
    import uvicorn

    from config.logs import configure_logging
    from portal.app import create_app

    settings = settings_or_exit()
    configure_logging(settings)
    app = create_app(settings)
    console.print(
        f"портал: http://{host}:{port} (ссылки в письмах: {settings.portal_url})", soft_wrap=True
    )
    # the portal's own access log masks link tokens; uvicorn's would not, so it is off,
    # and uvicorn's other lines go through our handler (text or JSON, scrubbed)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, proxy_headers=True)


def register(app: typer.Typer) -> None:
    """Add `portal` and `admin` to `app`."""
    app.command("portal")(portal_command)
    app.add_typer(admin_app, name="admin")
