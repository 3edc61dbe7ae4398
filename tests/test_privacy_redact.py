"""Finding 7 of issue 14: personal data is redacted before search text is stored (``kb.tracking.redact``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_app
from sqlalchemy import select
from visitors import Visitor

from kb.db import session_scope
from kb.models import ArticleView, SearchEvent, Vote
from kb.tracking.redact import pseudonym, redact

REDACTED = [
    ("mail me at ada.lovelace+kb@example.co.uk", "mail me at [email]"),
    ("écrivez à josé.garcía@exemple.fr svp", "écrivez à [email] svp"),
    ("call +44 20 7946 0958 please", "call [phone] please"),
    ("(555) 123-4567", "[phone]"),
    ("+1-202-555-0143", "[phone]"),
    ("mon numéro 06 12 34 56 78", "mon numéro [phone]"),
    ("제 번호는 010-1234-5678 입니다", "제 번호는 [phone] 입니다"),
    ("+82 10 1234 5678로 전화", "[phone]로 전화"),
    ("رقمي +966 50 123 4567", "رقمي [phone]"),
    ("هاتفي ٠٥٥٥١٢٣٤٥٦٧", "هاتفي [number]"),
    ("card 4111 1111 1111 1111 declined", "card [card] declined"),
    ("Karte 4111-1111-1111-1111 abgelehnt", "Karte [card] abgelehnt"),
    ("4111111111111111", "[card]"),
    ("order 123456 missing", "order [number] missing"),
    ("#1234 not shipped", "[number] not shipped"),
    ("commande n° 4521 pas reçue", "commande n° [number] pas reçue"),
    ("Bestellung 88812 fehlt", "Bestellung [number] fehlt"),
    ("주문번호 12345 배송", "주문번호 [number] 배송"),
    ("طلب رقم 7788 لم يصل", "طلب رقم [number] لم يصل"),
    ("заказ 4521 не пришёл", "заказ [number] не пришёл"),
    ("IBAN DE89 3704 0044 0532 0130 00", "IBAN [iban]"),
    ("FR7630006000011234567890189", "[iban]"),
    ("tracking 1Z999AA10123456784", "tracking [number]"),
    ("customer 00123456 points", "customer [number] points"),
]

KEPT = [
    "error 404",
    "iPhone 15",
    "2 items",
    "Windows 11 update",
    "points expire after 12 months",
    "version 2.10.3",
    "on 2024-05-01",
    "10,000 points",
    "HTTP 500 error",
    "3.5% discount",
    "top 10 rewards",
    "comment gagner 100 points",
    "포인트 500점 적립",
    "كيف أكسب 50 نقطة",
    "Shopify Plus 2023",
    "mp3 sha256 utf-8",
    "how do customers earn points",
]


@pytest.mark.parametrize(("text", "expected"), REDACTED)
def test_personal_data_is_replaced_by_a_placeholder(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_queries_are_kept_as_typed(text: str) -> None:
    assert redact(text) == text


def test_pseudonym_is_keyed_and_hides_the_address() -> None:
    one, other = pseudonym("Ada@Example.com", "k1"), pseudonym("ada@example.com", "k2")
    assert one == pseudonym("ada@example.com ", "k1") and one != other and "ada" not in one


def test_search_text_is_redacted_before_it_is_stored(indexed_root: Path, tmp_path: Path) -> None:
    app = make_app(indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3")
    visitor = Visitor(app)
    visitor.search("points for ada@example.com card 4111 1111 1111 1111")
    visitor.client.get("/api/suggest?locale=en&q=expiry%20%2B44%2020%207946%200958")
    visitor.read("en/set-up-points-expiry", query="expiry order 123456")
    visitor.vote("en/set-up-points-expiry", False, query="expiry #98765")
    visitor.say_why("en/set-up-points-expiry", "missing", "write to ada@example.com", query="expiry #98765")
    with session_scope(app) as session:
        queries = {e.query for e in session.scalars(select(SearchEvent))}
        views = [v.query for v in session.scalars(select(ArticleView))]
        vote = session.scalars(select(Vote)).one()
    assert queries == {"points for [email] card [card]", "expiry [phone]"}
    assert views == ["expiry order [number]"]
    assert (vote.query, vote.comment) == ("expiry [number]", "write to [email]")
