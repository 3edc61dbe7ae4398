"""Issue 14, finding 2: links in mail, canonical links, the sitemap and robots.txt come from KB_BASE_URL, never
from the request's Host header, and a request for another host is refused when KB_BASE_URL is set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from sqlalchemy import func, select
from visitors import UNANSWERED, contact_page, fill

from kb.db import session_scope
from kb.models import OutboxMessage, Ticket
from kb.security.urls import external_url
from kb.tickets.messages import mentioned_articles

BASE = "https://help.example.com"
SITE = {"base_url": BASE}


@pytest.fixture
def site(indexed_root: Path, tmp_path: Path) -> Any:
    return make_app(
        indexed_root / "articles",
        indexed_root / "search_index",
        tmp_path / "kb.sqlite3",
        BASE_URL=BASE,
        SMTP_HOST="127.0.0.1",
        TICKET_ACK=True,
        WTF_CSRF_ENABLED=True,
    )


@pytest.fixture
def open_site(indexed_root: Path, tmp_path: Path) -> Any:
    """KB_BASE_URL unset: development, links follow the request as before."""
    return make_app(indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3")


def count_tickets(app: Any) -> int:
    with session_scope(app) as session:
        return int(session.scalar(select(func.count(Ticket.id))) or 0)


@pytest.mark.parametrize("path", ["/", "/en/", "/sitemap.xml", "/robots.txt", "/en/contact", "/admin/login"])
def test_another_host_is_refused_when_base_url_is_set(site: Any, path: str) -> None:
    client = site.test_client()
    assert client.get(path, base_url=BASE).status_code in (200, 302)
    assert client.get(path, headers={"Host": "evil.example"}).status_code == 400


def test_the_health_check_answers_any_host(site: Any) -> None:
    response = site.test_client().get("/healthz", headers={"Host": "10.0.0.5:8000"})
    assert response.status_code != 400


def test_the_base_hosts_default_port_is_the_same_host(site: Any) -> None:
    client = site.test_client()
    assert client.get("/robots.txt", headers={"Host": "help.example.com:443"}).status_code == 200
    assert client.get("/robots.txt", headers={"Host": "help.example.com:8443"}).status_code == 400
    assert client.get("/robots.txt", headers={"Host": "HELP.example.com"}).status_code == 200


def test_a_contact_post_for_another_host_is_refused_and_not_stored(site: Any) -> None:
    client = site.test_client()
    page = contact_page(client, f"{BASE}/en/contact")
    data = fill(page, UNANSWERED, confirmed="1")
    response = client.post("/en/contact", data=data, headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert count_tickets(site) == 0


def test_sitemap_robots_and_canonical_links_use_the_base_url(site: Any) -> None:
    client = site.test_client()
    sitemap = client.get("/sitemap.xml", base_url=BASE).get_data(as_text=True)
    assert f"<loc>{BASE}/en/articles/cancel-your-subscription</loc>" in sitemap
    assert "localhost" not in sitemap
    robots = client.get("/robots.txt", base_url=BASE).get_data(as_text=True)
    assert f"Sitemap: {BASE}/sitemap.xml" in robots
    article = client.get("/en/articles/cancel-your-subscription", base_url=BASE).get_data(as_text=True)
    assert f'rel="canonical" href="{BASE}/en/articles/cancel-your-subscription"' in article
    home = client.get("/en/", base_url=BASE).get_data(as_text=True)
    assert f'rel="canonical" href="{BASE}/en/"' in home


def test_mail_links_come_from_the_base_url_whatever_the_host(site: Any) -> None:
    for host in ("http://evil.example", BASE):
        with site.test_request_context("/en/contact", base_url=host):
            links = mentioned_articles({"suggested": ["en/cancel-your-subscription"]})
            url = links["en/cancel-your-subscription"]["url"]
            assert url == f"{BASE}/en/articles/cancel-your-subscription"
    with site.app_context():  # outside a request too (a CLI composing mail)
        assert external_url("site.home", locale="en") == f"{BASE}/en/"


def test_the_acknowledgement_mail_links_to_the_base_url(site: Any) -> None:
    client = site.test_client()
    page = contact_page(client, f"{BASE}/en/contact")
    question = {**UNANSWERED, "subject": "Cancel my plan", "message": "How do I cancel my subscription and plan?"}
    referer = {"Referer": f"{BASE}/en/contact"}  # Flask-WTF checks it over https, as browsers send it
    response = client.post(f"{BASE}/en/contact", data=fill(page, question, send="1"), headers=referer)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    with session_scope(site) as session:
        acks = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ack")).all()
        bodies = [m.payload["body"] for m in acks]
    assert bodies, "no acknowledgement was queued"
    assert all("localhost" not in b and "evil" not in b for b in bodies)
    assert f"{BASE}/en/articles/cancel-your-subscription" in bodies[0]


def test_without_a_base_url_links_follow_the_request(open_site: Any) -> None:
    client = open_site.test_client()
    robots = client.get("/robots.txt", headers={"Host": "dev.local:5000"}).get_data(as_text=True)
    assert "Sitemap: http://dev.local:5000/sitemap.xml" in robots
