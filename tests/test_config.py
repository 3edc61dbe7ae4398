"""Settings are read once into one typed object: defaults, KB_ variables, bad values, shared models."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MODELS, PROJECT, make_app
from test_outbox import T0, Inbox, free_port, queue, sessions, start_smtp, status_of

from kb import create_app
from kb.config import DEFAULTS, SettingInvalid, Settings, settings_of
from kb.db import session_scope
from kb.models import Ticket
from kb.tickets import outbox
from kb.tickets.messages import acknowledgement


@pytest.fixture
def make(articles_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    def build(**settings: object):  # type: ignore[no-untyped-def]
        return make_app(articles_dir, tmp_path / "search_index", tmp_path / "kb.sqlite3", **settings)

    return build


def test_an_empty_smtp_tls_means_starttls_never_plain_text(make, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KB_SMTP_TLS", "")
    port = free_port()
    app = make(SUPPORT_EMAIL="support@perkly.example", SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    assert settings_of(app).smtp_tls == "starttls" and app.config["SMTP_TLS"] == "starttls"
    inbox = Inbox()
    controller = start_smtp(port, inbox)  # a server without STARTTLS: the mail must not go out in clear
    try:
        message_id = queue(app)
        assert outbox.deliver_due(sessions(app), settings_of(app), now=T0) == {"retry": 1}
    finally:
        controller.stop()
    assert inbox.mails == []
    assert "STARTTLS" in (status_of(app, message_id).last_error or "")


def test_the_acknowledgement_is_signed_with_the_configured_site_name(
    make,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KB_SITE_NAME", "")  # empty means the default, as for every setting
    app = make()
    with session_scope(app) as session:
        ticket = Ticket(name="Ada", email="ada@example.com", subject="Points", message="Where?", context={})
        session.add(ticket)
        session.flush()
        with app.test_request_context():
            body = acknowledgement(ticket, settings_of(app), [])["body"]
    assert body.rstrip().splitlines()[-1] == "Perkly Help Center" == DEFAULTS["SITE_NAME"]
    assert app.config["SITE_NAME"] == "Perkly Help Center"  # the page titles read it there


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KB_SMTP_TLS", "tls"),
        ("KB_SMTP_PORT", "five-eight-seven"),
        ("KB_RATELIMIT_ENABLED", "maybe"),
        ("KB_TICKET_DELIVERY", "fax"),
        ("KB_OUTBOX_MAX_ATTEMPTS", "0"),
        ("KB_SUGGEST_THRESHOLD", "high"),
        ("KB_LOG_LEVEL", "LOUD"),
        ("KB_LEARNING_SIMILARITY", "2"),
        ("KB_LEARNING_HALF_LIFE_DAYS", "inf"),
        ("KB_LEARNING_MAX_ADJUSTMENT", "nan"),
    ],
)
def test_a_bad_value_stops_the_start_naming_its_variable(
    make,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingInvalid, match=variable):
        make()


def test_variables_are_parsed_into_typed_settings(make, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    for name, value in {
        "KB_SMTP_PORT": "2525",
        "KB_SMTP_TLS": "SSL",
        "KB_SUGGEST_THRESHOLD": "0.5",
        "KB_RATELIMIT_ENABLED": "false",
        "KB_TICKET_ACK": "no",
        "KB_MULTILINGUAL_MODEL": "",
    }.items():
        monkeypatch.setenv(name, value)
    settings = settings_of(make())
    assert (settings.smtp_port, settings.smtp_tls, settings.suggest_threshold) == (2525, "ssl", 0.5)
    assert (settings.ratelimit_enabled, settings.ticket_ack, settings.multilingual_model) == (False, False, "")
    assert settings.articles_dir.is_absolute() and settings.database_url.startswith("sqlite:///")


def test_app_config_holds_the_parsed_settings(make) -> None:  # type: ignore[no-untyped-def]
    app = make(SMTP_PORT="2525", OUTBOX_BACKOFF_SECONDS=30)
    assert settings_of(app).as_config().items() <= dict(app.config).items()
    assert app.config["SMTP_PORT"] == 2525
    assert set(DEFAULTS) == {key.upper() for key in Settings.__dataclass_fields__}


def test_apps_given_one_registry_load_each_model_once(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first, second = make(), make()
    assert first.extensions["kb.models"] is second.extensions["kb.models"] is MODELS
    assert MODELS.embedder("") is MODELS.embedder("") is not None
    alone = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}"})
    assert alone.extensions["kb.models"] is not MODELS


def test_no_module_writes_the_environment() -> None:
    writers = [
        str(path.relative_to(PROJECT))
        for path in (PROJECT / "kb").rglob("*.py")
        if "os.environ" in path.read_text(encoding="utf-8")
    ]
    assert writers == []
