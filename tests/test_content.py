"""Reading the articles tree: front matter, validation with path:line, categories, what is served."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import MINI_ARTICLES, make_app, write_tree

from kb.content import load_library
from kb.content.loader import article_files


def tree(tmp_path: Path, extra: dict[str, str]) -> Path:
    """The mini tree plus ``extra`` files (written as given, not dedented twice)."""
    return write_tree(tmp_path / "articles", {**MINI_ARTICLES, **extra})


def lines(*text: str) -> str:
    """One argument per line of the file, so a case shows which line each part is on."""
    return "\n".join(text) + "\n"


# (files added to the mini tree, the file reported, its line, words in the message)
# fmt: off
BROKEN = {
    "bad-yaml": (
        {"en/points/bad-yaml.md": lines("---", "title: Bad YAML", "summary: ratio: 2 points", "---", "",
                                        "Body.")},
        "en/points/bad-yaml.md", 3, "invalid YAML",
    ),
    "bad-yaml-later-line": (
        {"en/points/bad-yaml.md": lines("---", "title: Bad YAML", "summary: S", "tags: [a, b]", "  oops: 1",
                                        "---", "", "Body.")},
        "en/points/bad-yaml.md", 5, "invalid YAML",
    ),
    "missing-title": (
        {"en/points/no-title.md": lines("---", "summary: Has no title.", "---", "", "Body.")},
        "en/points/no-title.md", 1, "missing title",
    ),
    "empty-title": (
        {"en/points/no-title.md": lines("---", "summary: Has an empty title.", 'title: "  "', "---", "",
                                        "Body.")},
        "en/points/no-title.md", 3, "missing title",
    ),
    "no-front-matter": (
        {"en/points/no-title.md": lines("Just a body, no front matter.")},
        "en/points/no-title.md", 1, "missing title",
    ),
    "front-matter-not-closed": (
        {"en/points/open.md": lines("---", "title: Never closed", "summary: S", "", "Body.")},
        "en/points/open.md", 1, "never closed",
    ),
    "unknown-related": (
        {"en/points/lonely.md": lines("---", "title: Lonely", "summary: S", "tags: [x]",
                                      "related: [launch-your-program, no-such-article]", "---", "", "Body.")},
        "en/points/lonely.md", 5, "no-such-article",
    ),
    "link-to-missing-article": (
        {"en/points/linker.md": lines("---", "title: Linker", "summary: S", "---", "", "Intro.", "",
                                      "See [the guide](missing-guide.md) first.")},
        "en/points/linker.md", 8, "missing-guide.md",
    ),
    "absolute-link-to-missing-article": (
        {"en/points/linker.md": lines("---", "title: Linker", "summary: S", "---", "", "## Steps", "",
                                      "Read [this](/en/articles/no-such-article).")},
        "en/points/linker.md", 8, "no-such-article",
    ),
    "link-to-missing-anchor": (
        {"en/points/linker.md": lines("---", "title: Linker", "summary: S", "---", "", "Intro.", "",
                                      "## Steps", "",
                                      "1. [See](../getting-started/launch-your-program.md#no-such-heading)")},
        "en/points/linker.md", 10, "no-such-heading",
    ),
    "reference-link-to-missing-article": (
        {"en/points/linker.md": lines("---", "title: Linker", "summary: S", "---", "", "See [the guide][guide].",
                                      "", "[guide]: missing-article.md")},
        "en/points/linker.md", 8, "missing-article.md",
    ),
    "link-to-missing-anchor-in-same-article": (
        {"en/points/linker.md": lines("---", "title: Linker", "summary: S", "---", "",
                                      "Jump to [steps](#stpes).", "", "## Steps", "", "Do it.")},
        "en/points/linker.md", 6, "#stpes",
    ),
    "alias-clashes-with-slug": (
        {"en/billing/change-plan.md": lines("---", "title: Change plan", "summary: S",
                                            "aliases: [cancel-your-subscription]", "---", "", "Body.")},
        "en/billing/change-plan.md", 4, "cancel-your-subscription",
    ),
    "order-not-a-number": (
        {"en/points/ordered.md": lines("---", "title: Ordered", "summary: S", "order: first", "---", "",
                                       "Body.")},
        "en/points/ordered.md", 4, "order",
    ),
    "not-utf8": ({}, "en/points/latin1.md", 7, "UTF-8"),  # written as bytes by write_broken
    # Values YAML reads but cannot build, and YAML it refuses to read, each at its own line.
    "impossible-date": (
        {"en/points/dated.md": lines("---", "title: Dated", "summary: S", "updated: 2024-13-45", "---", "",
                                     "Body.")},
        "en/points/dated.md", 4, "'2024-13-45': not a valid timestamp (month must be in 1..12)",
    ),
    "wrong-tag": (
        {"en/points/tagged.md": lines("---", "title: Tagged", "summary: S", "tags: [points, !!int x]", "---",
                                      "", "Body.")},
        "en/points/tagged.md", 4, "not a valid int",
    ),
    "unsafe-tag": (
        {"en/points/unsafe.md": lines("---", "title: Unsafe", "summary: S", "",
                                      "order: !!python/object/apply:os.system ['true']", "---", "", "Body.")},
        "en/points/unsafe.md", 5, "could not determine a constructor",
    ),
    "alias": (
        {"en/points/aliased.md": lines("---", "title: &t Aliased", "summary: S", "tags: [*t]", "---", "",
                                       "Body.")},
        "en/points/aliased.md", 4, "alias",
    ),
    "character-yaml-refuses": (
        {"en/points/odd.md": lines("---", "title: Odd", "summary: 'a\x7fb'", "---", "", "Body.")},
        "en/points/odd.md", 3, "U+007F",
    ),
    # "draft: maybe" was read as a draft (any word is true), "order: yes" as order 1 (True).
    "draft-not-yes-or-no": (
        {"en/points/maybe.md": lines("---", "title: Maybe", "summary: S", "draft: maybe", "---", "", "Body.")},
        "en/points/maybe.md", 4, "draft must be true or false",
    ),
    "order-a-boolean": (
        {"en/points/yes.md": lines("---", "title: Ordered", "summary: S", "order: yes", "---", "", "Body.")},
        "en/points/yes.md", 4, "order must be a whole number",
    ),
    # "title: Yes" is YAML's true, "title: 2024" a number: not "missing title".
    "title-not-text": (
        {"en/points/no.md": lines("---", "title: No", "summary: S", "---", "", "Body.")},
        "en/points/no.md", 2, "title must be text: put it in quotes",
    ),
}
# fmt: on


def write_broken(tmp_path: Path, case: str) -> Path:
    files, path, _, _ = BROKEN[case]
    root = tree(tmp_path, files)
    if case == "not-utf8":
        (root / path).write_bytes("---\ntitle: Caf\n---\n\nIntro.\n\nCaf\xe9 cr\xe8me.\n".encode("latin-1"))
    return root


@pytest.mark.parametrize("case", BROKEN)
def test_problem_is_reported_at_path_and_line(tmp_path: Path, case: str) -> None:
    _, path, line, words = BROKEN[case]
    library = load_library(write_broken(tmp_path, case))
    located = [(p.path, p.line) for p in library.errors]
    assert located == [(path, line)], [str(p) for p in library.problems]
    assert words in library.errors[0].message
    assert str(library.errors[0]).startswith(f"{path}:{line}: error: ")


@pytest.mark.parametrize("case", [c for c in BROKEN if c != "not-utf8"])
def test_broken_article_is_left_out_and_the_others_are_served(
    tmp_path: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    _, path, _, _ = BROKEN[case]
    root = write_broken(tmp_path, case)
    client = make_app(root, tmp_path / "index", tmp_path / "kb.sqlite3").test_client()
    with caplog.at_level(logging.WARNING, logger="kb.content"):
        good = client.get("/en/articles/set-up-points-expiry")
    assert good.status_code == 200
    assert client.get(f"/en/articles/{Path(path).stem}").status_code == 404
    for slug in ("install-on-shopify", "launch-your-program", "cancel-your-subscription"):
        assert client.get(f"/en/articles/{slug}").status_code == 200, slug
    assert any(path in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING), caplog.text


def test_latin1_article_is_left_out(tmp_path: Path) -> None:
    library = load_library(write_broken(tmp_path, "not-utf8"))
    assert library.get("en", "latin1") is None
    assert library.get("en", "set-up-points-expiry") is not None


def test_duplicate_slug_in_two_categories_reports_the_later_file(tmp_path: Path) -> None:
    copy = "---\ntitle: Cancel (old)\nsummary: S\n---\n\nOld copy.\n"
    library = load_library(tree(tmp_path, {"en/zz-archive/cancel-your-subscription.md": copy}))
    errors = [(p.path, p.line) for p in library.errors]
    assert errors == [("en/zz-archive/cancel-your-subscription.md", 1)]
    assert "en/billing/cancel-your-subscription.md" in library.errors[0].message
    served = library.get("en", "cancel-your-subscription")
    assert served is not None and served.path == "en/billing/cancel-your-subscription.md"
    assert library.category("en", "zz-archive") is None


def test_same_slug_in_two_locales_is_not_a_duplicate(tmp_path: Path) -> None:
    fr = "---\ntitle: Résilier votre abonnement\nsummary: S\n---\n\nCorps.\n"
    library = load_library(tree(tmp_path, {"fr/billing/cancel-your-subscription.md": fr}))
    assert library.errors == []
    assert library.get("fr", "cancel-your-subscription") is not None
    assert library.get("en", "cancel-your-subscription") is not None


def test_unknown_front_matter_key_is_only_a_warning(tmp_path: Path) -> None:
    text = "---\ntitle: With author\nsummary: S\nauthor: Sam\n---\n\nBody.\n"
    library = load_library(tree(tmp_path, {"en/points/with-author.md": text}))
    assert library.errors == []
    warnings = [(p.path, p.line) for p in library.warnings if "author" in p.message]
    assert warnings == [("en/points/with-author.md", 4)]
    assert library.get("en", "with-author") is not None


def test_missing_summary_is_only_a_warning(tmp_path: Path) -> None:
    library = load_library(tree(tmp_path, {}))
    assert library.errors == []
    assert [(p.path, p.severity) for p in library.problems] == [("en/points/draft-tiktok-points.md", "warning")]


@pytest.mark.parametrize(
    "link",
    [
        "launch-your-program.md",
        "./launch-your-program.md#go-live",
        "../points/set-up-points-expiry.md#turn-on-expiry",
        "/en/articles/launch-your-program#before-you-launch",
        "#deeper-detail",
        "#steps",
        "https://example.com/missing.md",
        "mailto:help@example.com",
    ],
)
def test_valid_links_are_not_problems(tmp_path: Path, link: str) -> None:
    text = lines(
        "---",
        "title: Links",
        "summary: S",
        "---",
        "",
        f"See [it]({link}).",
        "",
        "## Steps",
        "",
        "#### Deeper detail",
        "",
        "Text.",
    )
    library = load_library(tree(tmp_path, {"en/getting-started/links.md": text}))
    assert library.errors == []
    assert library.get("en", "links") is not None


def test_links_inside_fenced_code_are_not_checked(tmp_path: Path) -> None:
    text = "---\ntitle: Code\nsummary: S\n---\n\n```markdown\n[example](not-an-article.md)\n```\n"
    library = load_library(tree(tmp_path, {"en/points/code.md": text}))
    assert library.errors == []


def test_links_inside_indented_code_are_not_checked(tmp_path: Path) -> None:
    text = lines("---", "title: Code", "summary: S", "---", "", "Write a link like this:", "",
                 "    [example](not-an-article.md)", "", "Then save.")  # fmt: skip
    library = load_library(tree(tmp_path, {"en/points/code.md": text}))
    assert library.errors == []
    assert library.get("en", "code") is not None


def test_front_matter_fields_are_read(tmp_path: Path) -> None:
    library = load_library(tree(tmp_path, {}))
    article = library.get("en", "install-on-shopify")
    assert article is not None
    assert (article.title, article.summary) == (
        "Install Perkly on Shopify",
        "Add the app from the Shopify App Store and connect your store.",
    )
    assert (article.tags, article.order, article.aliases, article.related) == (
        ["install", "shopify"],
        1,
        ["shopify-install"],
        ["launch-your-program"],
    )
    assert (article.locale, article.category, article.path, article.url) == (
        "en",
        "getting-started",
        "en/getting-started/install-on-shopify.md",
        "/en/articles/install-on-shopify",
    )
    assert article.body_line == 9
    assert library.alias_target("en", "shopify-install") == "install-on-shopify"


def test_drafts_are_left_out_unless_asked_for(tmp_path: Path) -> None:
    root = tree(tmp_path, {})
    assert load_library(root).get("en", "draft-tiktok-points") is None
    draft = load_library(root, include_drafts=True).get("en", "draft-tiktok-points")
    assert draft is not None and draft.draft


def test_category_file_gives_title_description_and_order(tmp_path: Path) -> None:
    extra = {"en/points/_category.yml": "title: Points & earning\ndescription: How shoppers earn.\norder: 2\n"}
    library = load_library(tree(tmp_path, extra))
    points = library.category("en", "points")
    assert points is not None
    assert (points.title, points.description, points.order) == ("Points & earning", "How shoppers earn.", 2)
    assert [c.slug for c in library.categories_in("en")] == ["getting-started", "points", "billing"]


@pytest.mark.parametrize(
    ("folder", "title"),
    [("billing", "Billing"), ("vip-tiers", "Vip tiers"), ("gift_cards", "Gift cards")],
)
def test_category_title_comes_from_folder_without_category_file(tmp_path: Path, folder: str, title: str) -> None:
    text = "---\ntitle: One\nsummary: S\n---\n\nBody.\n"
    library = load_library(tree(tmp_path, {f"en/{folder}/one.md": text}))
    category = library.category("en", folder)
    assert category is not None
    assert (category.title, category.description, category.order) == (title, "", 1000)


def test_category_without_served_articles_is_not_listed(tmp_path: Path) -> None:
    extra = {
        "en/empty/_category.yml": "title: Empty\n",
        "en/drafts-only/_category.yml": "title: Soon\n",
        "en/drafts-only/soon.md": "---\ntitle: Soon\nsummary: S\ndraft: true\n---\n\nBody.\n",
    }
    library = load_library(tree(tmp_path, extra))
    slugs = [c.slug for c in library.categories_in("en")]
    assert "empty" not in slugs and "drafts-only" not in slugs


def test_bad_category_yaml_is_located(tmp_path: Path) -> None:
    library = load_library(tree(tmp_path, {"en/points/_category.yml": "description: Earn\ntitle: Points: earning\n"}))
    assert [(p.path, p.line) for p in library.errors] == [("en/points/_category.yml", 2)]


def test_category_value_yaml_cannot_build_is_located_and_the_folder_still_listed(tmp_path: Path) -> None:
    library = load_library(tree(tmp_path, {"en/points/_category.yml": "title: Points\norder: 2024-13-45\n"}))
    assert [(p.path, p.line) for p in library.errors] == [("en/points/_category.yml", 2)]
    assert "points" in [c.slug for c in library.categories_in("en")]


def test_files_starting_with_underscore_or_dot_are_not_articles(tmp_path: Path) -> None:
    text = "---\ntitle: Hidden\nsummary: S\n---\n\nBody.\n"
    library = load_library(tree(tmp_path, {"en/points/_partial.md": text, "en/.trash/hidden.md": text}))
    assert library.get("en", "_partial") is None and library.get("en", "hidden") is None


def test_article_files_are_read_in_path_order(tmp_path: Path) -> None:
    # Folder by folder, as paths sort ("a" before "a-b", though "-" sorts before "/" in a string); no file
    # under or named with _ or a dot, and nothing but locale/category/name.md.
    names = ["en/a-b/x.md", "en/a/z.md", "en/a/y.md", "en/_drafts/d.md", "en/a/.h.md", "fr/a/x.md", "en/x.md"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert article_files(tmp_path) == ["en/a/y.md", "en/a/z.md", "en/a-b/x.md", "fr/a/x.md"]


def test_missing_articles_folder_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    library = load_library(tmp_path / "nowhere")
    assert len(library) == 0
    assert [p.message for p in library.errors] == ["articles folder not found"]
