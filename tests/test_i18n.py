"""Many languages: locale choice, switcher, hreflang, right-to-left, originals, catalogues, stale translations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import MINI_ARTICLES, git, make_app, write_tree

from kb.content import load_library
from kb.content.translation_status import translation_status
from kb.i18n import locales
from kb.i18n.catalogues import LOCALES, catalogues, extract, load, message_ids, untranslated

FRENCH = {
    "fr/getting-started/_category.yml": "title: Bien démarrer\ndescription: Installer et lancer.\norder: 1\n",
    "fr/getting-started/install-on-shopify.md": """\
        ---
        title: Installer Perkly sur Shopify
        summary: Ajoutez l'application depuis l'App Store de Shopify.
        ---

        Perkly s'installe en quelques minutes. Votre équipe peut commencer tout de suite.

        ## Installer l'application

        Ouvrez l'App Store de Shopify et cherchez Perkly.
        """,
}
ARABIC = {
    "ar/getting-started/install-on-shopify.md": """\
        ---
        title: تثبيت Perkly على Shopify
        summary: أضف التطبيق من متجر تطبيقات Shopify.
        ---

        يتم تثبيت Perkly في بضع دقائق.
        """,
}


@pytest.fixture
def multi_app(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = write_tree(tmp_path / "articles", {**MINI_ARTICLES, **FRENCH, **ARABIC})
    return make_app(root, tmp_path / "index", tmp_path / "kb.sqlite3")


def test_first_visit_picks_the_locale_from_accept_language(multi_app) -> None:  # type: ignore[no-untyped-def]
    client = multi_app.test_client()
    assert client.get("/", headers={"Accept-Language": "fr-CA,fr;q=0.9"}).headers["Location"] == "/fr/"
    assert client.get("/", headers={"Accept-Language": "de"}).headers["Location"] == "/en/"


def test_switcher_remembers_the_choice(multi_app) -> None:  # type: ignore[no-untyped-def]
    client = multi_app.test_client()
    response = client.get("/language/ar?next=/ar/")
    assert response.status_code == 302 and response.headers["Location"] == "/ar/"
    assert client.get("/", headers={"Accept-Language": "fr"}).headers["Location"] == "/ar/"
    assert client.get("/language/fr?next=https://evil.example/").headers["Location"] == "/fr/"


def test_pages_carry_lang_dir_and_hreflang(multi_app) -> None:  # type: ignore[no-untyped-def]
    client = multi_app.test_client()
    page = client.get("/ar/articles/install-on-shopify").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page
    assert 'hreflang="en" href="http://localhost/en/articles/install-on-shopify"' in page
    assert 'hreflang="fr" href="http://localhost/fr/articles/install-on-shopify"' in page
    assert 'hreflang="x-default"' in page
    french = client.get("/fr/").get_data(as_text=True)
    assert '<html lang="fr" dir="ltr">' in french
    assert re.search(r'href="/language/ar\?next=/ar/"', french)


def test_untranslated_article_offers_the_original(multi_app) -> None:  # type: ignore[no-untyped-def]
    page = multi_app.test_client().get("/fr/articles/set-up-points-expiry")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'lang="en"' in text and "Set up points expiry" in text
    assert "English" in text  # the notice names the original's language
    assert 'rel="canonical" href="http://localhost/en/articles/set-up-points-expiry"' in text


def test_category_lists_originals_with_their_language(multi_app) -> None:  # type: ignore[no-untyped-def]
    page = multi_app.test_client().get("/fr/getting-started/").get_data(as_text=True)
    assert "Installer Perkly sur Shopify" in page
    assert "Launch your loyalty program" in page and "English" in page


def test_stale_translation_is_reported(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "articles", {**MINI_ARTICLES, **FRENCH})
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(
        tmp_path,
        "commit",
        "-qm",
        "first",
        env={"GIT_AUTHOR_DATE": "2026-01-01T10:00:00", "GIT_COMMITTER_DATE": "2026-01-01T10:00:00"},
    )
    original = root / "en/getting-started/install-on-shopify.md"
    original.write_text(original.read_text() + "\nNew step.\n")
    git(
        tmp_path,
        "commit",
        "-qam",
        "edit",
        env={"GIT_AUTHOR_DATE": "2026-02-01T10:00:00", "GIT_COMMITTER_DATE": "2026-02-01T10:00:00"},
    )
    french = {s.locale: s for s in translation_status(load_library(root))}["fr"]
    assert [t.path for t, _ in french.stale] == ["fr/getting-started/install-on-shopify.md"]
    assert {a.slug for a in french.missing} == {
        "launch-your-program",
        "set-up-points-expiry",
        "cancel-your-subscription",
    }


def test_check_prints_translation_status(multi_app) -> None:  # type: ignore[no-untyped-def]
    result = multi_app.test_cli_runner().invoke(args=["check", "--no-search"])
    assert "fr: 1 of 4 articles translated, 3 missing" in result.output, result.output


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_is_complete(locale: str) -> None:
    """Every UI string of the code and templates has a translation in every language."""
    path = catalogues().get(locale)
    assert path is not None, f"no catalogue for {locale}: run `kb translations update`"
    catalog = load(path)
    assert sorted(message_ids(extract()) - message_ids(catalog)) == [], (
        "strings missing from the catalogue: run `kb translations update`"
    )
    assert untranslated(catalog) == []


def test_ui_strings_are_translated_on_the_page(multi_app) -> None:  # type: ignore[no-untyped-def]
    from kb.i18n.catalogues import compile_all

    compile_all()
    page = multi_app.test_client().get("/fr/").get_data(as_text=True)
    assert "Search the help center" not in page
    assert load(catalogues()["fr"]).get("Search the help center").string in page


@pytest.mark.parametrize(
    ("code", "language", "writing"),
    [
        ("fr", "Français", "ltr"),
        ("ko", "한국어", "ltr"),
        ("ar", "العربية", "rtl"),
        ("he", "עברית", "rtl"),
        ("fa", "فارسی", "rtl"),
        ("ur", "اردو", "rtl"),
        ("zz", "zz", "ltr"),
    ],
)
def test_language_names_and_direction_come_from_babel(code: str, language: str, writing: str) -> None:
    assert (locales.name(code), locales.direction(code)) == (language, writing)
