"""Request ids (issue 14): each request has an id, echoed in X-Request-ID and carried by every log line it writes;
a well-formed id from the proxy is kept, a hostile one is replaced."""

from __future__ import annotations

import json
import logging

import pytest
from flask import Flask

from kb import create_app
from kb.config import SettingInvalid
from kb.request_ids import HEADER, JsonFormatter, formatter

log = logging.getLogger("kb.tests.request_ids")


@pytest.fixture
def probed(app: Flask) -> Flask:
    """The mini app with one view that writes a log line, as any view may."""

    def probe() -> str:
        log.warning("inside the view")
        return "ok"

    app.add_url_rule("/log-probe", "log_probe", probe)
    return app


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == log.name]


def test_two_requests_get_different_ids_echoed_in_the_header(probed: Flask) -> None:
    client = probed.test_client()
    first, second = client.get("/log-probe"), client.get("/log-probe")
    assert first.headers[HEADER] and second.headers[HEADER]
    assert first.headers[HEADER] != second.headers[HEADER]


def test_a_log_line_from_inside_a_view_carries_the_request_id(probed: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    reply = probed.test_client().get("/log-probe")
    [line] = _lines(caplog)
    assert line.request_id == reply.headers[HEADER]  # type: ignore[attr-defined]
    assert json.loads(JsonFormatter().format(line))["request_id"] == reply.headers[HEADER]


def test_a_well_formed_request_id_from_the_proxy_is_kept(probed: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    given = "edge-5f2c9a1b-0001"
    reply = probed.test_client().get("/log-probe", headers={HEADER: given})
    assert reply.headers[HEADER] == given
    assert _lines(caplog)[0].request_id == given  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "hostile",
    ["abcdefgh\r\nX-Injected: 1", "abcdefgh\nlevel=ERROR fake line", "a" * 10_000, "short", "<script>x</script>"],
)
def test_a_hostile_request_id_is_replaced_not_trusted(
    probed: Flask, caplog: pytest.LogCaptureFixture, hostile: str
) -> None:
    caplog.set_level(logging.INFO)
    environ = {"HTTP_X_REQUEST_ID": hostile}  # raw, as a client could send it (the test client would refuse CR/LF)
    reply = probed.test_client().get("/log-probe", environ_overrides=environ)
    echoed = reply.headers[HEADER]
    assert echoed != hostile and len(echoed) == 32 and echoed.isalnum()
    assert _lines(caplog)[0].request_id == echoed  # type: ignore[attr-defined]
    assert "X-Injected" not in reply.headers


def test_log_lines_outside_a_request_say_so(caplog: pytest.LogCaptureFixture, app: Flask) -> None:
    caplog.set_level(logging.INFO)
    log.warning("at start")
    assert _lines(caplog)[0].request_id == "-"  # type: ignore[attr-defined]


def test_kb_log_format_json_writes_one_object_a_line_with_the_id(probed: Flask) -> None:
    record = logging.LogRecord("kb.x", logging.ERROR, __file__, 1, "refused %s", ("it",), None)
    record.request_id = "edge-5f2c9a1b-0002"
    line = json.loads(formatter("json").format(record))
    assert line["request_id"] == "edge-5f2c9a1b-0002" and line["message"] == "refused it"
    assert "request_id=edge-5f2c9a1b-0002" in formatter("text").format(record)
    with pytest.raises(SettingInvalid, match="KB_LOG_FORMAT"):
        create_app({"SECRET_KEY": "x", "LOG_FORMAT": "xml"})
