"""A visitor of the site, driven through the Flask test client as a browser would drive it.

Each Visitor has its own cookie jar (so its own ``kb_visitor`` id) and reads the CSRF token from the page
it is on before it posts, so the tests exercise the real endpoints with CSRF on. ``Forms``, ``contact_page``
and ``fill`` read and submit a page's forms the same way for tests that drive the client themselves.
"""

from __future__ import annotations

import itertools
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

TOKEN = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


def token_in(html: str) -> str:
    match = TOKEN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


UNANSWERED = {  # nothing in the mini tree answers this with confidence
    "name": "Ada",
    "email": "ada@example.com",
    "subject": "My dog ate my keyboard yesterday",
    "message": "Can you recommend a new one? It has to be blue.",
    "topic": "",
    "store_url": "",
}


class Forms(HTMLParser):
    """A page's forms as a browser sees them: inputs, textareas (one leading newline dropped), selects."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._textarea: str | None = None
        self._select: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "action": a.get("action", ""),
                    "id": a.get("id", ""),
                    "class": a.get("class", ""),
                    "fields": {},
                    "buttons": [],
                }
            )
        elif not self.forms:
            return
        fields = self.forms[-1]["fields"]
        if tag == "input" and a.get("type") not in ("submit", "button"):
            fields[a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))
        elif tag == "textarea":
            self._textarea = a["name"]
            fields[self._textarea] = ""
        elif tag == "select":
            self._select = a["name"]
            fields[self._select] = None
        elif tag == "option" and self._select and (fields[self._select] is None or "selected" in a):
            fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._textarea:
            text = self.forms[-1]["fields"][self._textarea]
            self.forms[-1]["fields"][self._textarea] = re.sub(r"^\r?\n", "", text)
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.forms[-1]["fields"][self._textarea] += data

    def find(self, **match: str) -> dict[str, Any]:
        for form in self.forms:
            if all(value in form[key] for key, value in match.items()):
                return form
        raise AssertionError(f"no form with {match} among {[(f['id'], f['action']) for f in self.forms]}")


def contact_page(client: Any, url: str = "/en/contact") -> dict[str, Any]:
    """The contact form on ``url`` as a browser would submit it."""
    response = client.get(url)
    assert response.status_code == 200
    return Forms(response.get_data(as_text=True)).find(id="contact-form")


def fill(page: dict[str, Any], values: dict[str, str], **extra: str) -> dict[str, str]:
    """The form's own fields (token included) with ``values`` and ``extra`` typed over them."""
    data = {k: v for k, v in page["fields"].items() if v is not None}
    data.update(values)
    data.update(extra)
    return data


_ADDRESSES = itertools.count()


class Visitor:
    def __init__(self, app: Any, same_as: Visitor | None = None) -> None:
        """A new visitor of ``app``, or the person ``same_as`` (their cookie) coming back to it."""
        self.app = app
        self.client = app.test_client()
        self.token = ""
        # Each person comes from an address of their own (votes count once per address, article and day).
        self.address = same_as.address if same_as is not None else f"198.51.100.{next(_ADDRESSES) % 250 + 1}"
        self.client.environ_base["REMOTE_ADDR"] = self.address
        if same_as is not None:
            self.client.set_cookie("kb_visitor", same_as.id)

    def get(self, url: str, status: int = 200) -> str:
        response = self.client.get(url)
        assert response.status_code == status, (url, response.status_code)
        html = response.get_data(as_text=True)
        found = TOKEN.search(html)
        if found:
            self.token = found.group(1)
        return html

    @property
    def id(self) -> str:
        cookie = self.client.get_cookie("kb_visitor")
        assert cookie is not None, "the visitor has no cookie yet"
        return cookie.value

    # -- reading and feedback -------------------------------------------------------------------------

    def read(self, article_id: str, query: str = "") -> str:
        locale, slug = article_id.split("/", 1)
        url = f"/{locale}/articles/{slug}" + (f"?from=search&q={quote(query)}" if query else "")
        return self.get(url)

    def vote(self, article_id: str, helpful: bool, query: str = "", as_json: bool = False) -> Any:
        """Answer "Did this answer your question?" on the article page (read first, as a person would)."""
        self.read(article_id, query)
        data = {
            "csrf_token": self.token,
            "article_id": article_id,
            "query": query,
            "step": "vote",
            "helpful": "yes" if helpful else "no",
        }
        headers = {"Accept": "application/json"} if as_json else {}
        return self.client.post("/feedback", data=data, headers=headers)

    def say_why(self, article_id: str, reason: str, comment: str = "", query: str = "", as_json: bool = False) -> Any:
        data = {
            "csrf_token": self.token,
            "article_id": article_id,
            "query": query,
            "step": "reason",
            "reason": reason,
            "comment": comment,
        }
        headers = {"Accept": "application/json"} if as_json else {}
        return self.client.post("/feedback", data=data, headers=headers)

    # -- search ---------------------------------------------------------------------------------------

    def search(self, query: str, locale: str = "en") -> dict[str, Any]:
        """Search as the results page does, and return the API's view of the same results."""
        self.get(f"/{locale}/search?q={quote(query)}")
        response = self.client.get(f"/api/search?q={quote(query)}&locale={locale}")
        found: dict[str, Any] = response.get_json()
        return found

    def search_page(self, query: str, locale: str = "en") -> list[tuple[int, int, str]]:
        """Search on the results page; return (search id, position, article id) of each result link."""
        html = self.get(f"/{locale}/search?q={quote(query)}")
        links = re.findall(r'href="/go\?([^"]+)"', html)
        out = []
        for link in links:
            params = dict(p.split("=", 1) for p in link.replace("&amp;", "&").split("&"))
            out.append((int(params.get("s", 0) or 0), int(params["p"]), params["a"].replace("%2F", "/")))
        return out

    def click(self, search_id: int, position: int, article_id: str) -> None:
        response = self.client.get(f"/go?s={search_id}&p={position}&a={quote(article_id, safe='')}")
        assert response.status_code == 302
        self.get(response.headers["Location"].split("#")[0])

    # -- the contact form -----------------------------------------------------------------------------

    def open_contact(self, locale: str = "en") -> None:
        self.get(f"/{locale}/contact")

    def suggest(self, question: str, locale: str = "en") -> dict[str, Any]:
        response = self.client.get(f"/api/suggest?source=contact&locale={locale}&q={quote(question)}")
        assert response.status_code == 200
        found: dict[str, Any] = response.get_json()
        return found

    def open_answer(self, found: dict[str, Any], rank: int = 1) -> str:
        hit = found["suggestions"][rank - 1]
        body = {
            "article_id": hit["id"],
            "search_id": found["search_id"],
            "position": rank,
            "anchor": hit.get("anchor", ""),
            "query": found.get("query", ""),  # the draft, as contact.js sends it
        }
        response = self.client.post("/contact/opened", json=body, headers={"X-CSRFToken": self.token})
        assert response.status_code == 200, response.get_data(as_text=True)
        return str(hit["id"])

    def say_answered(self, article_id: str, helpful: bool, query: str = "") -> None:
        body = {"article_id": article_id, "helpful": helpful, "query": query}
        response = self.client.post("/contact/vote", json=body, headers={"X-CSRFToken": self.token})
        assert response.status_code == 200

    def send_ticket(self, subject: str, message: str, locale: str = "en") -> str:
        """Send the contact form as written (past the suggestions); return the reference."""
        self.open_contact(locale)
        data = {
            "csrf_token": self.token,
            "name": "Ada",
            "email": "ada@example.com",
            "subject": subject,
            "message": message,
            "topic": "",
            "store_url": "",
            "from": "",
            "website": "",
            "send": "1",
        }
        response = self.client.post(f"/{locale}/contact", data=data)
        assert response.status_code == 303, response.get_data(as_text=True)[:2000]
        html = self.get(response.headers["Location"])
        match = re.search(r"KB-\d{6}", html)
        assert match, html
        return match.group(0)
