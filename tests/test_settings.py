"""Production refuses a setup whose links and mail cannot reach anyone."""

from __future__ import annotations

import pytest

from config.settings import Environment, SettingsError, load_settings

GOOD_PRODUCTION: dict[str, object] = {
    "_env_file": None,
    "environment": "production",
    "secret_key": "s" * 48,
    "database_url": "postgresql+psycopg://roadmap:secret@db.imcso-levokumskoe.ru/roadmap",
    "portal_url": "https://roadmap.imcso-levokumskoe.ru",
    "mail_from": "Методический центр <roadmap@imcso-levokumskoe.ru>",
    "centre_email": "imcso@levokumskoe.ru",
}


def production(**changes: object) -> dict[str, object]:
    return {**GOOD_PRODUCTION, **changes}


def refusal(**changes: object) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(**production(**changes))
    return str(caught.value)


def test_a_good_production_setup_passes() -> None:
    settings = load_settings(**GOOD_PRODUCTION)
    assert settings.environment is Environment.production
    assert settings.portal_url == "https://roadmap.imcso-levokumskoe.ru"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.0.1.5",
        "https://localhost/",
        "http://LOCALHOST:8080",
        "http://portal.localhost",
        "http://[::1]:8080",
        "http://[::ffff:127.0.0.1]",
        "http://0.0.0.0:8080",
    ],
)
def test_production_refuses_a_portal_url_on_a_loopback_address(url: str) -> None:
    message = refusal(portal_url=url)
    assert "ROADMAP_PORTAL_URL" in message and "loopback" in message
    assert "публичный адрес" in message
    assert "ROADMAP_MAIL_FROM" not in message and "ROADMAP_CENTRE_EMAIL" not in message


def test_production_refuses_a_portal_url_at_an_example_domain() -> None:
    message = refusal(portal_url="https://roadmap.example")
    assert "ROADMAP_PORTAL_URL" in message and "example" in message


@pytest.mark.parametrize(
    "value",
    [
        "Методический центр <roadmap@imcso-levokumskoe.example>",
        "roadmap@levokumskoe.EXAMPLE",
        "noreply@example.com",
        "roadmap@localhost",
        "not an address",
    ],
)
def test_production_refuses_a_placeholder_sender(value: str) -> None:
    message = refusal(mail_from=value)
    assert message.count("ROADMAP_MAIL_FROM") == 1
    assert "ROADMAP_CENTRE_EMAIL" not in message and "ROADMAP_PORTAL_URL" not in message


def test_production_refuses_a_placeholder_centre_address() -> None:
    message = refusal(centre_email="imcso@levokumskoe.example")
    assert "ROADMAP_CENTRE_EMAIL" in message and "levokumskoe.example" in message
    assert "ROADMAP_MAIL_FROM" not in message


def test_the_defaults_in_production_name_every_variable_at_once() -> None:
    values = {
        k: v
        for k, v in GOOD_PRODUCTION.items()
        if k not in {"portal_url", "mail_from", "centre_email"}
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(**values)
    message = str(caught.value)
    for variable in ("ROADMAP_PORTAL_URL", "ROADMAP_MAIL_FROM", "ROADMAP_CENTRE_EMAIL"):
        assert variable in message


def test_development_keeps_the_loopback_and_example_defaults() -> None:
    settings = load_settings(_env_file=None, environment="development")
    assert settings.portal_url == "http://127.0.0.1:8080"
    assert settings.centre_email.endswith(".example")


def test_the_refusal_comes_from_the_environment_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GOOD_PRODUCTION.items():
        if not name.startswith("_"):
            monkeypatch.setenv(f"ROADMAP_{name.upper()}", str(value))
    monkeypatch.setenv("ROADMAP_PORTAL_URL", "http://localhost:8080")
    with pytest.raises(SettingsError, match="ROADMAP_PORTAL_URL"):
        load_settings(_env_file=None)
