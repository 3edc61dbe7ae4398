"""`kb index`: incremental builds keyed on each article's content, and a running site that switches to a
new build without a restart or a failed request."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import MODELS, build_passages, make_app, write_tree

from kb.config import Settings
from kb.content import load_library
from kb.search import open_searcher
from kb.search.chunks import (
    Chunk,
    SavedPassages,
    chunk_article,
    read_columns,
    read_passages,
    save_passages,
    text_digests,
)
from kb.search.indexer import KEEP_BUILDS, build_index, current_build, read_manifest
from kb.search.vector_store import read_rows

SUMMARY = re.compile(
    r"(\d+) added, (\d+) changed, (\d+) removed, (\d+) unchanged; (\d+) passages, (\d+) new embeddings"
)
EXPIRY = "en/points/set-up-points-expiry.md"
GIFT_CARDS = "\n## Gift cards\n\nZanzibar gift cards bought in the store also earn points for the buyer.\n"


def copy_indexed(indexed_root: Path, tmp_path: Path) -> Path:
    """A private copy of the indexed mini tree, so a test can edit it without rebuilding from scratch."""
    shutil.copytree(indexed_root / "articles", tmp_path / "articles")
    shutil.copytree(indexed_root / "search_index", tmp_path / "search_index")
    return tmp_path


def app_for(root: Path, **extra: object) -> Any:
    return make_app(root / "articles", root / "search_index", root / "kb.sqlite3", **extra)


def index(app: Any) -> tuple[tuple[int, ...], str]:
    """Run `kb index`; return (added, changed, removed, unchanged, embeddings, passages) and the output."""
    result = app.test_cli_runner().invoke(args=["index"])
    assert result.exit_code == 0, result.output
    found = SUMMARY.search(result.output)
    assert found, result.output
    added, changed, removed, unchanged, passages, embedded = (int(n) for n in found.groups())
    return (added, changed, removed, unchanged, embedded, passages), result.output


def passages_of(root: Path, article_id: str) -> int:
    """How many passages one article embeds, for every model the index uses."""
    library = load_library(root / "articles")
    article = library.by_id(article_id)
    assert article is not None
    models = read_manifest(current_build(root / "search_index"))["models"]
    return len(chunk_article(article)) * len(models)


def vectors_by_passage(root: Path) -> dict[tuple[str, str, str], bytes]:
    build = current_build(root / "search_index")
    assert build is not None
    chunks = [c._asdict() | {"id": c.article_id} for c in build_passages(root / "articles", build)]
    matrix = read_rows(build / "vectors-minilm.npy")
    assert len(matrix) == len(chunks)
    return {(c["id"], c["anchor"], c["text"]): matrix[i].tobytes() for i, c in enumerate(chunks)}


def api_ids(client: Any, query: str) -> list[str]:
    data = client.get("/api/search", query_string={"q": query, "locale": "en"}).get_json()
    return [r["id"] for r in data["results"]]


def zanzibar_hits(client: Any) -> list[tuple[str, str]]:
    """The results whose snippet marks "zanzibar", a word only the gift cards section has."""
    data = client.get("/api/search?q=zanzibar&locale=en").get_json()
    return [(r["id"], r["anchor"]) for r in data["results"] if "<mark>Zanzibar</mark>" in r["snippet"]]


def test_first_build_adds_every_article(app: Any) -> None:
    counts, output = index(app)
    assert counts[:4] == (4, 0, 0, 0)
    models = read_manifest(current_build(Path(app.config["SEARCH_INDEX_DIR"])))["models"]
    assert set(models) == {"minilm", "usem3"}
    assert counts[4] == counts[5] * len(models)  # every passage, once per model
    for article_id in (
        "en/install-on-shopify",
        "en/launch-your-program",
        "en/set-up-points-expiry",
        "en/cancel-your-subscription",
    ):
        assert f"added: {article_id}" in output
    assert "draft-tiktok-points" not in output


def test_without_models_the_index_is_keywords_only(
    articles_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KB_EMBEDDING_MODEL", str(tmp_path / "no-model-here"))
    monkeypatch.setenv("KB_MULTILINGUAL_MODEL", "")
    app = make_app(articles_dir, tmp_path / "search_index", tmp_path / "kb.sqlite3")
    counts, output = index(app)
    assert counts[:5] == (4, 0, 0, 0, 0)
    assert "no model: keyword only" in output
    assert read_manifest(current_build(tmp_path / "search_index"))["models"] == {}
    assert api_ids(app.test_client(), "PK-4011") == ["en/install-on-shopify"]


def test_a_second_run_embeds_nothing(indexed_root: Path, tmp_path: Path) -> None:
    root = copy_indexed(indexed_root, tmp_path)
    before = vectors_by_passage(root)
    counts, output = index(app_for(root))
    assert counts[:5] == (0, 0, 0, 4, 0)
    assert not re.search(r"^\s+(added|changed|removed):", output, re.M)
    assert vectors_by_passage(root) == before


def test_editing_one_article_embeds_only_its_changed_passages(indexed_root: Path, tmp_path: Path) -> None:
    root = copy_indexed(indexed_root, tmp_path)
    app = app_for(root)
    before = vectors_by_passage(root)
    with (root / "articles" / EXPIRY).open("a", encoding="utf-8") as f:
        f.write(GIFT_CARDS)
    counts, output = index(app)
    assert re.findall(r"^\s+(added|changed|removed): (\S+)$", output, re.M) == [("changed", "en/set-up-points-expiry")]
    assert counts[:4] == (0, 1, 0, 3)
    after = vectors_by_passage(root)
    edited = {k for k in after if k[0] == "en/set-up-points-expiry"}
    new = {k[2] for k in edited} - {k[2] for k in before if k[0] == "en/set-up-points-expiry"}
    models = len(read_manifest(current_build(root / "search_index"))["models"])
    assert counts[4] == len(new) * models and 0 < counts[4] < passages_of(root, "en/set-up-points-expiry")
    assert all(after[k] == before[k] for k in edited if k in before)  # its unchanged passages kept their vectors
    others = {k: v for k, v in before.items() if k[0] != "en/set-up-points-expiry"}
    assert {k: v for k, v in after.items() if k[0] != "en/set-up-points-expiry"} == others
    assert any(k[1] == "gift-cards" for k in after)
    client = app.test_client()
    assert zanzibar_hits(client) == [("en/set-up-points-expiry", "gift-cards")]
    searcher = open_searcher(root / "search_index", load_library(root / "articles"), Settings(), MODELS)
    assert [h.id for h in searcher.search("zanzibar", "en", mode="keyword").hits] == ["en/set-up-points-expiry"]
    top = client.get("/api/search?q=do+gift+card+purchases+earn+rewards&locale=en").get_json()["results"][0]
    assert (top["id"], top["anchor"]) == ("en/set-up-points-expiry", "gift-cards")


def test_the_kb_command_ends_once_its_build_is_written_with_its_output_and_logs(
    indexed_root: Path, tmp_path: Path
) -> None:
    # The console script leaves with os._exit after `kb index` (the interpreter's teardown was ~0.9 s of a
    # deploy at 10,000 articles): what it printed and logged is all there, and the build is whole.
    root = copy_indexed(indexed_root, tmp_path)
    with (root / "articles" / EXPIRY).open("a", encoding="utf-8") as f:
        f.write(GIFT_CARDS)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "KB_ARTICLES_DIR": str(root / "articles"),
        "KB_SEARCH_INDEX_DIR": str(root / "search_index"),
        "KB_DATABASE_URL": f"sqlite:///{root / 'kb.sqlite3'}",
        "KB_LOG_LEVEL": "INFO",
    }
    kb = str(Path(sys.executable).parent / "kb")
    done = subprocess.run([kb, "index"], env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r"^Index (\S+): " + SUMMARY.pattern, done.stdout, re.M)
    assert found and found.group(3) == "1", done.stdout  # one changed
    assert current_build(root / "search_index").name == found.group(1)
    assert "embedding model" in done.stderr  # the log, flushed before the process ended
    searcher = open_searcher(root / "search_index", load_library(root / "articles"), Settings(), MODELS)
    assert [h.id for h in searcher.search("zanzibar", "en", mode="keyword").hits] == ["en/set-up-points-expiry"]
    refused = subprocess.run([kb, "index", "--build-id", "../up"], env=env, cwd=root, capture_output=True, text=True)
    assert refused.returncode == 2 and "build-id" in refused.stderr  # a failure still ends as it did


def test_kb_index_builds_with_an_app_that_has_settings_and_models_and_no_site(tmp_path: Path) -> None:
    # `kb index` never serves a page nor opens the database: the site's extensions and views were 0.35 s of it.
    from kb import create_app
    from kb.config import settings_of

    app = create_app({"ARTICLES_DIR": str(tmp_path / "articles"), "TESTING": True}, models=MODELS, serving=False)
    assert app.extensions["kb.models"] is MODELS and settings_of(app).articles_dir == tmp_path / "articles"
    assert not app.blueprints and "kb.db" not in app.extensions and "kb.state" not in app.extensions
    # The kb command chooses it for `kb index` only, as it loads the app inside that command.
    import click

    from kb.cli import _create_app, cli

    for name, serving in (("index", False), ("check", True)):
        with click.Context(cli.commands[name], info_name=name):
            assert bool(_create_app().blueprints) is serving, name


def test_an_edit_leaves_the_build_it_started_from_as_it_was(indexed_root: Path, tmp_path: Path) -> None:
    # The new build's Whoosh files start as hard links to the previous build's: Whoosh adds files and never
    # rewrites one, and kb's arrays are written afresh. Workers still serving the previous build read it whole.
    root = copy_indexed(indexed_root, tmp_path)
    previous = current_build(root / "search_index")
    assert previous is not None
    before = {p.relative_to(previous): p.read_bytes() for p in previous.rglob("*") if p.is_file()}
    with (root / "articles" / EXPIRY).open("a", encoding="utf-8") as f:
        f.write(GIFT_CARDS)
    index(app_for(root))
    assert current_build(root / "search_index") != previous
    assert {p.relative_to(previous): p.read_bytes() for p in previous.rglob("*") if p.is_file()} == before
    from whoosh import index as whoosh_index

    def words(build: Path) -> set[str]:
        with whoosh_index.open_dir(str(build / "keyword" / "en")).searcher() as found:
            return {t.decode() for t in found.lexicon("body")}

    assert "zanzibar" in words(current_build(root / "search_index")) - words(previous)  # the edit only in the new one


def test_deleting_an_article_removes_it(indexed_root: Path, tmp_path: Path) -> None:
    root = copy_indexed(indexed_root, tmp_path)
    app = app_for(root)
    client = app.test_client()
    assert "en/cancel-your-subscription" in api_ids(client, "cancel subscription")
    (root / "articles" / "en/billing/cancel-your-subscription.md").unlink()
    counts, output = index(app)
    assert "removed: en/cancel-your-subscription" in output
    assert counts[:5] == (0, 0, 1, 3, 0)
    assert not any(k[0] == "en/cancel-your-subscription" for k in vectors_by_passage(root))
    assert "en/cancel-your-subscription" not in api_ids(client, "cancel subscription")
    manifest = read_manifest(current_build(root / "search_index"))
    assert "en/cancel-your-subscription" not in manifest["articles"]


def test_adding_an_article(indexed_root: Path, tmp_path: Path) -> None:
    root = copy_indexed(indexed_root, tmp_path)
    (root / "articles/en/points/gift-cards.md").write_text(
        "---\ntitle: Points on gift cards\nsummary: Whether gift card orders earn points.\n---\n\n"
        "Gift card purchases earn points like any other product.\n",
        encoding="utf-8",
    )
    counts, output = index(app_for(root))
    assert "added: en/gift-cards" in output
    assert counts[:5] == (1, 0, 0, 4, passages_of(root, "en/gift-cards"))


def test_old_builds_are_pruned(indexed_root: Path, tmp_path: Path) -> None:
    root = copy_indexed(indexed_root, tmp_path)
    app = app_for(root)
    for _ in range(KEEP_BUILDS + 2):
        index(app)
    builds = [p for p in (root / "search_index" / "builds").iterdir() if p.is_dir()]
    assert len(builds) == KEEP_BUILDS
    assert current_build(root / "search_index") in builds


def test_a_running_site_picks_up_a_new_build_without_restart(indexed_root: Path, tmp_path: Path) -> None:
    root = copy_indexed(indexed_root, tmp_path)
    app = app_for(root, INDEX_RELOAD_SECONDS=0)
    client = app.test_client()
    assert zanzibar_hits(client) == []
    with (root / "articles" / EXPIRY).open("a", encoding="utf-8") as f:
        f.write(GIFT_CARDS)
    assert zanzibar_hits(client) == []  # written, not yet indexed
    index(app_for(root))  # another process (`kb index`) builds it
    assert zanzibar_hits(client) == [("en/set-up-points-expiry", "gift-cards")]
    assert api_ids(client, "zanzibar")[0] == "en/set-up-points-expiry"
    page = client.get("/en/search?q=zanzibar").get_data(as_text=True)
    assert "gift-cards" in page


def test_a_site_that_checks_less_often_keeps_its_build_until_then(indexed_root: Path, tmp_path: Path) -> None:
    root = copy_indexed(indexed_root, tmp_path)
    client = app_for(root, INDEX_RELOAD_SECONDS=3600).test_client()
    assert zanzibar_hits(client) == []
    with (root / "articles" / EXPIRY).open("a", encoding="utf-8") as f:
        f.write(GIFT_CARDS)
    index(app_for(root))
    assert zanzibar_hits(client) == []


def test_a_watching_site_opens_a_new_build_in_its_own_thread(indexed_root: Path, tmp_path: Path) -> None:
    root = copy_indexed(indexed_root, tmp_path)
    app = app_for(root, INDEX_RELOAD_SECONDS=0.2)
    state = app.extensions["kb.state"]
    with app.app_context():
        state.current()  # a server's master warming up before it forks: no thread of its own
    assert state._watcher == 0
    client = app.test_client()
    assert zanzibar_hits(client) == []
    assert state._watcher == os.getpid()
    served = state.current()
    with (root / "articles" / EXPIRY).open("a", encoding="utf-8") as f:
        f.write(GIFT_CARDS)
    index(app_for(root))
    deadline = time.monotonic() + 60
    while state.current() is served and time.monotonic() < deadline:
        time.sleep(0.05)  # requests meanwhile are answered from the build before, never held up
    assert state.current() is not served
    assert zanzibar_hits(client) == [("en/set-up-points-expiry", "gift-cards")]


def test_requests_never_fail_while_the_index_is_rebuilt(indexed_root: Path, tmp_path: Path) -> None:
    root = copy_indexed(indexed_root, tmp_path)
    # As fast as the loop can go, from one address: far past /api/suggest's limit, which is not what is tested.
    app = app_for(root, INDEX_RELOAD_SECONDS=0, RATELIMIT_ENABLED=False)
    stop = threading.Event()
    failures: list[str] = []
    served = [0] * 4
    builds_seen: set[str] = set()
    urls = [
        "/api/search?q=points+expiry&locale=en",
        "/en/search?q=cancel+subscription",
        "/api/suggest?q=how+do+I+cancel+my+subscription&locale=en",
        "/api/search?q=PK-4011&locale=en",
    ]

    def hammer(n: int) -> None:
        client = app.test_client()
        while not stop.is_set():
            url = urls[n]
            try:
                response = client.get(url)
                if response.status_code != 200:
                    failures.append(f"{url}: {response.status_code}")
                elif url.startswith("/api/search") and not response.get_json()["results"]:
                    failures.append(f"{url}: no results")
                elif url.startswith("/api/suggest") and not response.get_json()["suggestions"]:
                    failures.append(f"{url}: no suggestion")
                elif url.startswith("/en/search") and "cancel-your-subscription" not in response.get_data(as_text=True):
                    failures.append(f"{url}: no results")
                served[n] += 1
                with app.app_context():
                    builds_seen.add(app.extensions["kb.state"]._snapshot.build_id)
            except Exception as exc:  # noqa: BLE001 - anything at all is a failure here
                failures.append(f"{url}: {exc!r}")

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(len(urls))]
    embedders = MODELS.embedders(Settings())
    built = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so races show up in a short test
    for t in threads:
        t.start()
    try:
        for n in range(KEEP_BUILDS + 2):  # enough builds that old ones are pruned while being served
            with (root / "articles" / EXPIRY).open("a", encoding="utf-8") as f:
                f.write(f"\nRebuild number {n} leaves the word zanzibar{n} here.\n")
            built.append(build_index(load_library(root / "articles"), root / "search_index", embedders).build_id)
            before = sum(served)
            while sum(served) < before + len(urls) and not failures:  # let every thread see this build
                stop.wait(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        sys.setswitchinterval(interval)
    assert failures == []
    assert all(n > 0 for n in served)
    assert built[-1] in builds_seen and len(builds_seen) > 1
    searcher = open_searcher(root / "search_index", load_library(root / "articles"), Settings(), MODELS)
    assert searcher.build_id == built[-1]
    last = f"zanzibar{KEEP_BUILDS + 1}"
    assert [h.id for h in searcher.search(last, "en", mode="keyword").hits] == ["en/set-up-points-expiry"]


def test_the_english_only_model_embeds_english_passages_only(articles_dir: Path, tmp_path: Path) -> None:
    """MiniLM reads English only: the searcher never asks it about a French passage, so the build does not
    spend time embedding them (the multilingual model embeds every language)."""
    write_tree(
        articles_dir,
        {
            "fr/getting-started/_category.yml": "title: Premiers pas\n",
            "fr/getting-started/install-on-shopify.md": """\
                ---
                title: Installer Perkly sur Shopify
                summary: Ajoutez l'application depuis le Shopify App Store.
                ---

                Perkly s'installe depuis le Shopify App Store en quelques minutes.
                """,
        },
    )
    app = make_app(articles_dir, tmp_path / "search_index", tmp_path / "kb.sqlite3")
    counts, _ = index(app)
    build = current_build(tmp_path / "search_index")
    assert build is not None
    chunks = [c._asdict() | {"id": c.article_id} for c in build_passages(articles_dir, build)]
    french = [i for i, c in enumerate(chunks) if c["id"].startswith("fr/")]
    assert french and len(french) < len(chunks)
    assert counts[4] == 2 * len(chunks) - len(french)  # usem3 every passage, MiniLM the English ones
    minilm, usem3 = read_rows(build / "vectors-minilm.npy"), read_rows(build / "vectors-usem3.npy")
    assert not minilm[french].any() and usem3[french].any()
    searcher = open_searcher(tmp_path / "search_index", load_library(articles_dir), Settings(), MODELS)
    assert set(searcher.vectors["minilm"]) == {"en"} and set(searcher.vectors["usem3"]) == {"en", "fr"}
    assert [h.id for h in searcher.search("installer Perkly sur Shopify", "fr").hits][:1] == ["fr/install-on-shopify"]


def test_passages_are_read_back_from_runs_and_from_builds_before_them(tmp_path: Path) -> None:
    chunks = [
        Chunk("en/a", "", "", "Title. Summary"),
        Chunk("en/a", "setup", "Setup", "Step one é 한"),
        Chunk("en/a", "setup", "Setup", "Step two"),
        Chunk("en/b", "", "", "Other"),
        Chunk("en/a", "", "", "A again: runs, not groups"),
    ]
    digests = text_digests(c.text for c in chunks)
    assert len(set(digests.tolist())) == len(chunks) and text_digests(["Step two"])[0] == digests[2]
    wanted = (
        [c.article_id for c in chunks],
        [c.anchor for c in chunks],
        [c.heading for c in chunks],
        digests.tolist(),
    )
    save_passages(tmp_path / "chunks.json", SavedPassages(*wanted[:3], digests))
    saved = read_passages(tmp_path / "chunks.json")
    assert (saved.ids, saved.anchors, saved.headings, saved.digests.tolist()) == wanted
    assert saved.spans() == {"en/a": (0, 3), "en/b": (3, 4)}  # an article's passages are adjacent: its first run
    # What the site reads: the runs only. No text is kept: an edit compares passages by their digests.
    assert read_columns(tmp_path / "chunks.json") == {"id": wanted[0], "anchor": wanted[1], "heading": wanted[2]}
    assert "Step" not in (tmp_path / "chunks.json").read_text(encoding="utf-8")
    # Builds from before: the texts beside the runs, columns with the texts, one object per passage.
    (tmp_path / "chunk-digests.npy").unlink()
    (tmp_path / "chunk-texts.json").write_text(json.dumps([c.text for c in chunks]), encoding="utf-8")
    found = read_passages(tmp_path / "chunks.json")
    assert (found.ids, found.anchors, found.headings, found.digests.tolist()) == wanted
    columns = {name: [c[k] for c in chunks] for name, k in (("id", 0), ("anchor", 1), ("heading", 2), ("text", 3))}
    (tmp_path / "columns").mkdir()
    (tmp_path / "columns" / "chunks.json").write_text(json.dumps(columns), encoding="utf-8")
    found = read_passages(tmp_path / "columns" / "chunks.json")
    assert (found.ids, found.anchors, found.headings, found.digests.tolist()) == wanted
    older = [{"id": c.article_id, "anchor": c.anchor, "heading": c.heading, "text": c.text} for c in chunks]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "chunks.json").write_text(json.dumps(older), encoding="utf-8")
    found = read_passages(tmp_path / "old" / "chunks.json")
    assert (found.ids, found.anchors, found.headings, found.digests.tolist()) == wanted
    (tmp_path / "chunk-texts.json").write_text(json.dumps(["one text short"]), encoding="utf-8")
    with pytest.raises(ValueError, match="1 digests for 5 passages"):
        read_passages(tmp_path / "chunks.json")
    with pytest.raises(ValueError, match="4 digests for 5 passages"):
        save_passages(tmp_path / "chunks.json", SavedPassages(*wanted[:3], digests[:4]))
