"""Property-based fuzzing (hypothesis) of every endpoint that takes input, and of front matter: whatever a
client sends in query strings, forms, JSON bodies or headers, the answer is never a 500, and comes quickly.

Text mixes Hypothesis' own with the Unicode that breaks naive code: bidi and zero-width marks, NUL, lone
surrogates (sent as the bytes a client would send), emoji, mixed scripts, CR/LF and percent signs.
Examples are few and the deadline set so the file runs in about a minute.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from conftest import MINI_ARTICLES, make_app, write_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.content.loader import load_library

SPECIALS = [
    "\u202e",  # right-to-left override
    "\u202d",
    "\u2066",
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\ufeff",
    "\x00",
    "\ud800",  # lone surrogates
    "\udfff",
    "\U0001f600",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "Аpple",  # Cyrillic А
    "ﷺ",
    "بزابير",
    "재피어로",
    "\r\n",
    "\t",
    "%",
    "%00",
    "%ff",
    "\\",
    "../",
    "//evil.example",
    "<script>",
    "'\"",
    "9" * 30,
    "-1",
    "1e309",
    "NaN",
]
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(SPECIALS),
    st.lists(st.one_of(st.sampled_from(SPECIALS), st.text(max_size=5)), max_size=8).map("".join),
)
FUZZ = settings(
    max_examples=25,
    deadline=3000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LIMITS = {
    "WTF_CSRF_ENABLED": False,
    "CONTACT_RATE_LIMIT": "100000 per minute",
    "FEEDBACK_RATE_LIMIT": "100000 per minute",
    "SUGGEST_RATE_LIMIT": "100000 per minute",
    "LOGIN_RATE_LIMIT": "100000 per minute",
}


WIDGET_HOST = "http://127.0.0.1:8123"  # a listed host page: the fuzz reaches the widget's views, not only its guard


def enc(value: str) -> str:
    """``value`` percent-encoded as a client sends it (a lone surrogate as its raw UTF-8-ish bytes)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def form_body(fields: dict[str, str]) -> bytes:
    return "&".join(f"{enc(k)}={enc(v)}" for k, v in fields.items()).encode()


@pytest.fixture(scope="module")
def site(indexed_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    app = make_app(
        indexed_root / "articles",
        indexed_root / "search_index",
        tmp_path_factory.mktemp("fuzz") / "kb.sqlite3",
        WIDGET_ORIGINS=WIDGET_HOST,
        **LIMITS,
    )
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


@pytest.fixture(scope="module")
def client(site: Any) -> Any:
    return site.test_client()


def ok(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]


GET_PATHS = [
    "/search?q={a}&category={b}&page={c}",
    "/en/search?q={a}&page={c}",
    "/api/search?q={a}&locale={b}&limit={c}&category={b}",
    "/api/suggest?q={a}&locale={b}&source={c}",
    "/go?a={a}&s={c}&p={c}&h={b}",
    "/language/{b}?next={a}",
    "/en/articles/set-up-points-expiry?from={b}&q={a}",
    "/en/articles/{a}",
    "/en/{a}/",
    "/en/contact?subject={a}&from={b}",
    "/{a}/",
    "/api/articles?locale={a}",
    "/api/articles/{b}/{a}",
    "/admin/login?next={a}&timed_out={c}",
]


@FUZZ
@given(template=st.sampled_from(GET_PATHS), a=TEXT, b=TEXT, c=st.one_of(TEXT, st.integers().map(str)))
def test_query_strings_and_paths_never_500(client: Any, template: str, a: str, b: str, c: str) -> None:
    url = template.format(a=enc(a), b=enc(b), c=enc(c))
    ok(client.get(url))


@FUZZ
@given(
    fields=st.fixed_dictionaries(
        {"name": TEXT, "email": TEXT, "subject": TEXT, "message": TEXT, "topic": TEXT, "store_url": TEXT},
        optional={"from": TEXT, "js": TEXT, "website": TEXT, "send": TEXT, "question": TEXT},
    )
)
def test_the_contact_form_never_500s(client: Any, fields: dict[str, str]) -> None:
    ok(client.post("/en/contact", data=form_body(fields), content_type="application/x-www-form-urlencoded"))


@FUZZ
@given(
    fields=st.fixed_dictionaries(
        {"article_id": st.one_of(TEXT, st.just("en/set-up-points-expiry")), "step": TEXT, "helpful": TEXT},
        optional={"reason": TEXT, "comment": TEXT, "query": TEXT},
    ),
    accept=st.sampled_from(["application/json", "text/html", "*/*", ""]),
)
def test_feedback_never_500s(client: Any, fields: dict[str, str], accept: str) -> None:
    response = client.post(
        "/feedback",
        data=form_body(fields),
        content_type="application/x-www-form-urlencoded",
        headers={"Accept": accept} if accept else {},
    )
    ok(response)


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
OBJECTS = st.fixed_dictionaries(
    {},
    optional={
        "article_id": st.one_of(st.just("en/set-up-points-expiry"), JSON),
        "search_id": JSON,
        "position": st.one_of(st.integers(), JSON),
        "anchor": JSON,
        "helpful": JSON,
        "query": JSON,
    },
)


@FUZZ
@given(path=st.sampled_from(["/contact/vote", "/contact/opened"]), body=st.one_of(JSON, OBJECTS))
def test_json_bodies_never_500(client: Any, path: str, body: Any) -> None:
    data = json.dumps(body, ensure_ascii=True)
    ok(client.post(path, data=data, content_type="application/json"))


@FUZZ
@given(path=st.sampled_from(["/contact/vote", "/contact/opened", "/feedback", "/en/contact"]), raw=st.binary())
def test_raw_bytes_never_500(client: Any, path: str, raw: bytes) -> None:
    for kind in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        ok(client.post(path, data=raw, content_type=kind))


@FUZZ
@given(email=TEXT, password=TEXT, next_=TEXT)
def test_the_admin_login_never_500s(client: Any, email: str, password: str, next_: str) -> None:
    body = form_body({"email": email, "password": password, "next": next_})
    ok(client.post("/admin/login", data=body, content_type="application/x-www-form-urlencoded"))


HEADER_TEXT = TEXT.map(lambda s: s.encode("utf-8", "surrogatepass").decode("latin-1")).filter(
    lambda s: "\r" not in s and "\n" not in s and "\x00" not in s
)


@FUZZ
@given(
    name=st.sampled_from(["Accept", "Accept-Language", "Referer", "Cookie", "User-Agent", "X-Forwarded-For"]),
    value=HEADER_TEXT,
    path=st.sampled_from(["/en/", "/en/articles/set-up-points-expiry", "/api/suggest?q=points", "/en/contact"]),
)
def test_headers_never_500(client: Any, name: str, value: str, path: str) -> None:
    if name == "Cookie":
        value = f"kb_visitor={value}; session={value}; kb_locale={value}"
    ok(client.get(path, headers={name: value}))


# -- front matter: any YAML a writer may type is a reported problem, never a crash ---------------------------

KEYS = st.sampled_from(
    ["title", "summary", "tags", "order", "aliases", "related", "draft", "translation_of", "contexts"]
)
YAML_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True),
        TEXT.map(lambda s: s.replace("\ud800", "").replace("\udfff", "")),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(string.ascii_letters, max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=30, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    meta=st.dictionaries(st.one_of(KEYS, st.text(max_size=8)), YAML_VALUES, max_size=6), raw=st.one_of(st.none(), TEXT)
)
def test_front_matter_never_crashes_the_loader(
    tmp_path_factory: pytest.TempPathFactory, meta: dict[str, Any], raw: str | None
) -> None:
    root = write_tree(
        tmp_path_factory.mktemp("fm") / "articles",
        {k: v for k, v in MINI_ARTICLES.items() if k.startswith("en/points")},
    )
    front = raw if raw is not None else yaml.safe_dump(meta, allow_unicode=True)
    text = f"---\n{front}\n---\n\n# Body\n\nSome text.\n"
    (root / "en" / "points" / "fuzzed.md").write_bytes(text.encode("utf-8", "surrogatepass"))
    library = load_library(root)
    assert library is not None


@pytest.fixture(scope="module")
def widget_token(client: Any) -> str:
    answer = client.get("/widget/session?locale=en", headers={"Origin": WIDGET_HOST})
    assert answer.status_code == 200
    token = str(answer.json["token"])
    reached = client.get(f"/widget/suggest?q=points&t={token}", headers={"Origin": WIDGET_HOST})
    assert reached.status_code == 200, "the fuzz must get past the widget's guard"
    return token


WIDGET_GETS = [
    "/widget/session?locale={a}&t={b}",
    "/widget/context?page={a}&title={b}&slugs={c}&locale={b}",
    "/widget/suggest?q={a}&page={b}&locale={c}",
    "/widget/articles/{b}/{a}?from={c}",
]


@FUZZ
@given(template=st.sampled_from(WIDGET_GETS), a=TEXT, b=TEXT, c=TEXT)
def test_the_widget_queries_never_500(client: Any, widget_token: str, template: str, a: str, b: str, c: str) -> None:
    url = template.format(a=enc(a), b=enc(b), c=enc(c)) + f"&t={widget_token}"
    ok(client.get(url, headers={"Origin": WIDGET_HOST, "Accept": "application/json"}))


@FUZZ
@given(
    path=st.sampled_from(["/widget/opened", "/widget/vote", "/widget/ticket"]),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "article_id",
                "search_id",
                "position",
                "anchor",
                "helpful",
                "reason",
                "comment",
                "query",
                "source",
                "page",
                "name",
                "email",
                "subject",
                "message",
                "identity_id",
                "identity_email",
                "identity_token",
            ]
        ),
        TEXT,
        max_size=8,
    ),
)
def test_the_widget_writes_never_500(client: Any, widget_token: str, path: str, fields: dict[str, str]) -> None:
    body = form_body({**fields, "t": widget_token})
    headers = {"Origin": WIDGET_HOST, "Accept": "application/json"}
    ok(client.post(path, data=body, content_type="application/x-www-form-urlencoded", headers=headers))
