"""Nobody steers what the search learns (issue #12's review): evidence needs the visitor's own search to
have shown the article, is capped per address (an IPv6 /64 as one), keeps no visitor's words, and the
contact form's answers opened count. Real model, real SQLite file, real requests."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from threading import Event

import numpy as np
import pytest
from flask import Flask
from test_learning import ASKED, CANCEL, EXPIRY, SAME_MEANING, backdate_opened, learned, learning_app, rows, say
from visitors import Visitor

from kb.learning.asked import shown_for
from kb.learning.evidence import question_vectors
from kb.learning.memory import Memory, Tuning
from kb.learning.ranking import LearnedRanking
from kb.models import SearchEvent
from kb.security.addresses import client_network
from kb.site_state import snapshot
from kb.tracking.draft_key import draft_key
from kb.tracking.redact import redact


@pytest.fixture
def learning(indexed_root: Path, tmp_path: Path) -> Flask:
    return learning_app(indexed_root, tmp_path / "kb.sqlite3")


def opened_on_contact_form(app: Flask, question: str, visitor: Visitor | None = None) -> Visitor:
    visitor = visitor or Visitor(app)
    visitor.open_contact()
    found = visitor.suggest(question)  # the contact form's suggestions: stored without their words
    assert found["suggestions"] and found["suggestions"][0]["id"] == CANCEL
    visitor.open_answer(found)
    return visitor


def test_an_answer_opened_on_the_contact_form_and_no_ticket_counts(learning: Flask) -> None:
    opened_on_contact_form(learning, "cancel my perkly subscription")
    assert {r.kind for r in rows(learning)} == {"opened"}
    backdate_opened(learning, 25)
    assert learned(learning, "I want to cancel my Perkly subscription", CANCEL)[0] > 0.0


def test_fresh_cookies_from_one_address_are_one_visitor(learning: Flask) -> None:
    first = opened_on_contact_form(learning, ASKED)
    backdate_opened(learning, 25)
    once, _ = learned(learning, SAME_MEANING, CANCEL)
    assert once > 0.0
    for _ in range(5):  # a new cookie each time, the same address
        again = Visitor(learning)
        again.client.environ_base["REMOTE_ADDR"] = first.address
        opened_on_contact_form(learning, ASKED, again)
    backdate_opened(learning, 25)
    assert len({r.voter for r in rows(learning)}) == 1
    one_unit = Tuning().max_adjustment / 3  # one visitor's say, however often they open it
    assert learned(learning, SAME_MEANING, CANCEL)[0] <= one_unit + 1e-9


def test_one_ipv6_network_is_one_visitor(learning: Flask) -> None:
    for address in ("2001:db8:1:2::10", "2001:db8:1:2:ffff:ffff:ffff:1"):  # one home's /64
        visitor = Visitor(learning)
        visitor.client.environ_base["REMOTE_ADDR"] = address
        opened_on_contact_form(learning, ASKED, visitor)
    other = Visitor(learning)
    other.client.environ_base["REMOTE_ADDR"] = "2001:db8:1:3::10"  # the neighbour's
    opened_on_contact_form(learning, ASKED, other)
    assert len({r.voter for r in rows(learning)}) == 2
    assert client_network("::ffff:198.51.100.7") == "198.51.100.7"
    assert client_network("198.51.100.7:51234") == "198.51.100.7"  # a port some proxies append: not a new voter
    assert client_network("[2001:db8:1:2::10]:443") == client_network("2001:db8:1:2::99")
    assert client_network("not an address") == "not an address"


def test_an_article_never_shown_teaches_nothing(learning: Flask) -> None:
    visitor = Visitor(learning)
    visitor.open_contact()
    found = visitor.suggest(ASKED)
    assert EXPIRY not in [s["id"] for s in found["suggestions"]]
    found["suggestions"][0]["id"] = EXPIRY  # "opened" an answer the search never showed
    visitor.open_answer(found)
    visitor.say_answered(EXPIRY, True, ASKED)  # and voted for it
    assert rows(learning) == []


def test_words_other_than_the_contact_form_s_draft_teach_nothing(learning: Flask) -> None:
    visitor = Visitor(learning)
    visitor.open_contact()
    found = visitor.suggest(ASKED)  # stored without its words: only their keyed hash
    assert found["suggestions"][0]["id"] == CANCEL
    visitor.say_answered(CANCEL, True, "how do I make points expire")  # other words for the shown answer
    found["query"] = "how do I make points expire"
    visitor.open_answer(found)
    assert rows(learning) == []
    visitor.say_answered(CANCEL, True, ASKED)  # the draft it was shown for
    assert {r.kind for r in rows(learning)} == {"vote"}


def test_a_vote_changed_to_words_never_asked_drops_what_it_said(learning: Flask) -> None:
    visitor = say(learning, CANCEL, True, ASKED)
    assert rows(learning)
    visitor.say_answered(CANCEL, False, "something this visitor never asked")
    assert rows(learning) == []  # not the old Yes standing for the new No


def test_words_the_visitor_never_searched_teach_nothing(learning: Flask) -> None:
    visitor = Visitor(learning)
    visitor.open_contact()
    visitor.say_answered(CANCEL, True, ASKED)  # no search at all
    [(search_id, position, article_id), *_] = visitor.search_page("cancel subscription")
    assert article_id == CANCEL
    # an article page reached by a link that carries someone else's question (?q=...)
    visitor.vote(CANCEL, True, query="the question a link planted")
    assert rows(learning) == []
    visitor.vote(CANCEL, True, query="cancel subscription")  # the words this visitor searched: they count
    assert {r.kind for r in rows(learning)} == {"vote"}


def test_a_host_page_s_words_and_the_api_are_not_a_visitor_s_question() -> None:
    def event(source: str) -> SearchEvent:
        return SearchEvent(source=source, query="settings billing plan", shown=[CANCEL])

    assert not shown_for(event("context"), CANCEL)  # the widget's guesses for the page the merchant is on
    assert not shown_for(event("api"), CANCEL)  # no person asked: anyone's script
    assert shown_for(event("suggest"), CANCEL) and not shown_for(event("suggest"), EXPIRY)
    assert not shown_for(None, CANCEL)


def test_evidence_is_embedded_from_the_redacted_question(learning: Flask) -> None:
    question = "how do I stop paying for perkly, I am ada@example.com and my store is 4521"
    say(learning, CANCEL, True, question)
    [kept] = [r for r in rows(learning) if r.model == "minilm"]
    stored = np.frombuffer(kept.embedding, dtype=np.float16).astype(np.float32)
    with learning.app_context():
        searcher = snapshot().searcher
        assert searcher is not None
        assert "ada@example.com" not in redact(question)
        redacted = question_vectors(searcher, redact(question), "en")
        raw = question_vectors(searcher, question, "en")
    assert float(stored @ redacted["minilm"]) > 0.999
    assert float(stored @ raw["minilm"]) < 0.99


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        ('{"article_id": "ARTICLE", "helpful": true, "query": "refund \\ud800 please", "\\udfff": "\\udfff"}', "utf-8"),
        ('{"article_id": "ARTICLE", "helpful": true, "query": "refund \ud800 please"}', "utf-16"),
    ],
)
def test_a_lone_surrogate_in_json_is_a_character_not_a_500(learning: Flask, body: str, encoding: str) -> None:
    visitor = Visitor(learning)
    visitor.open_contact()
    data = body.replace("ARTICLE", CANCEL).encode(encoding, "surrogatepass")
    response = visitor.client.post(
        "/contact/vote", data=data, content_type="application/json", headers={"X-CSRFToken": visitor.token}
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_reload_of_the_evidence_never_holds_up_a_search() -> None:
    started, release = Event(), Event()
    loads = [0]

    def slow_load() -> list:
        loads[0] += 1
        if loads[0] > 1:  # the second load: a large table read while searches go on
            started.set()
            release.wait(10)
        return []

    ranking = LearnedRanking(Tuning(), slow_load, refresh_seconds=0.05)
    first = ranking.version()
    ranking._loaded -= 1.0  # the refresh interval has passed
    assert ranking.memory() is not None and ranking.version() == first  # answered from the last load
    assert started.wait(10)
    assert ranking.version() == first  # still loading: searches are not waiting for it
    release.set()
    for _ in range(100):
        if ranking.version() != first:
            break
        Event().wait(0.05)
    assert ranking.version() != first
    assert isinstance(ranking.memory(), Memory)


def test_a_child_forked_during_a_reload_reloads_on_its_own() -> None:
    # gunicorn forks its workers from a master that may be reloading (a warm-up search): the child has no
    # thread to finish that reload, so it must not inherit the held lock.
    started, release = Event(), Event()
    loads = [0]

    def slow_load() -> list:
        loads[0] += 1
        if loads[0] == 2:
            started.set()
            release.wait(10)
        return []

    ranking = LearnedRanking(Tuning(), slow_load, refresh_seconds=0.05)
    ranking.version()
    ranking._loaded -= 1.0
    ranking.memory()  # the parent's reload starts, and holds the lock
    assert started.wait(10)
    child = os.fork()
    if child == 0:  # the child: a forget and a reload must not wait for the parent's thread
        code = 1
        try:
            signal.alarm(10)
            ranking.forget()
            code = 0 if isinstance(ranking.memory(), Memory) else 2
        finally:
            os._exit(code)
    release.set()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_draft_cut_short_by_the_vote_form_keeps_its_key() -> None:
    # The widget's vote keeps the first 500 characters of the draft; addresses in it shrink when redacted,
    # so the key is taken over the draft's beginning before redacting.
    mails = ", ".join(f"customer.number{i}@example.com" for i in range(16))
    draft = f"Points expiry e-mail never arrives Hi, these customers never got it: {mails}. Can you check? Ada"
    assert len(draft) > 500
    assert draft_key("k", draft) == draft_key("k", " ".join(draft.split())[:500]) != ""
    assert draft_key("k", draft) != draft_key("k", "Points expiry e-mail never arrives")
    assert draft_key("k", draft) != draft_key("other secret", draft)
