"""What learning from visitors does to suggestions: replay a simulated log, fit on its earlier half,
score its later half.

Questions come from bench/eval/merchants-fit.jsonl only (the held-out set is never read). They are
shuffled and split in two. In the earlier half each question is asked by three simulated visitors, each
in their own words (a greeting, a typo, a word dropped or swapped for a synonym); each votes on what the
search shows them as a visitor would: the first suggestion, Yes if it is right and No if not; with no
suggestion, the right article when it is in the top 3 of the results (opened and voted Yes); one vote
in ten is flipped (noise). One malicious visitor votes Yes for one unrelated article 200 times.

Scored, before and after learning, on two sets: **re-asked** (the earlier half's questions asked again
by new visitors in new words: what recurring questions gain) and **unseen** (the later half's questions,
which no visitor asked before: what a new question gains, or loses). Figures: recall@1, recall@3,
right article suggested and wrong article suggested (answerable), no suggestion (unanswerable), and how
often the malicious visitor's article is suggested, with the per-visitor cap and without it.

    HF_HUB_OFFLINE=1 python bench/learning_replay.py [--json] [--visitors 3] [--noise 0.1] [--seed 12]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.config import Settings  # noqa: E402
from kb.content import load_library  # noqa: E402
from kb.learning.evidence import question_vectors  # noqa: E402
from kb.learning.memory import Evidence, Memory  # noqa: E402
from kb.learning.ranking import LearnedRanking, tuning_of  # noqa: E402
from kb.models import utcnow  # noqa: E402
from kb.search import Searcher, open_searcher  # noqa: E402
from kb.search.semantic import Models  # noqa: E402

FIT = ROOT / "bench" / "eval" / "merchants-fit.jsonl"
GREETINGS = ("Hi, ", "Hello team, ", "Hey there! ", "Good morning, ")
THANKS = (" Thanks!", " thank you", " Thanks in advance.", " cheers")
SWAPS = {
    "how do i": "how can i",
    "how can i": "how do i",
    "customer": "shopper",
    "customers": "shoppers",
    "shopper": "customer",
    "can't": "cannot",
    "doesn't": "does not",
    "don't": "do not",
    "want to": "would like to",
    "change": "modify",
    "remove": "delete",
    "store": "shop",
}
MALICIOUS_VOTES = 200


def variant(text: str, rng: random.Random) -> str:
    """The same question in a visitor's own words: one or two light rewrites that keep its meaning."""
    out = text
    for _ in range(rng.choice((1, 2))):
        move = rng.choice(("greet", "thank", "typo", "drop", "swap", "lower"))
        words = out.split()
        if move == "greet":
            out = rng.choice(GREETINGS) + out
        elif move == "thank":
            out = out.rstrip() + rng.choice(THANKS)
        elif move == "typo":
            long = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
            if long:
                i = rng.choice(long)
                w = words[i]
                j = rng.randrange(1, len(w) - 2)
                words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
                out = " ".join(words)
        elif move == "drop" and len(words) > 4:
            short = [i for i, w in enumerate(words) if len(w) <= 3] or list(range(len(words)))
            del words[rng.choice(short)]
            out = " ".join(words)
        elif move == "swap":
            lowered = out.lower()
            options = [k for k in SWAPS if k in lowered]
            if options:
                k = rng.choice(options)
                at = lowered.index(k)
                out = out[:at] + SWAPS[k] + out[at + len(k) :]
        elif move == "lower":
            out = out.lower()
    return out


def outcome(searcher: Searcher, query: str, locale: str, reads_learned: bool = False) -> tuple[list[str], list[str]]:
    """The slugs ranked (top 3) and suggested for ``query``; ``reads_learned``: as if the confidence added
    the top article's learned lift to itself (kb.search.confidence does not read it today)."""
    ranked, _ = searcher.rank(query, locale, "hybrid")
    slugs = [c.article_id.split("/", 1)[1] for c in ranked[:3]]
    lift = ranked[0].learned if ranked and reads_learned else 0.0
    suggested = [c.article_id.split("/", 1)[1] for c in ranked[:3] if c.confidence + lift >= searcher.threshold]
    return slugs, suggested


def simulate_log(
    searcher: Searcher,
    items: list[dict[str, Any]],
    visitors: int,
    noise: float,
    rng: random.Random,
    slugs: dict[str, str],
) -> tuple[list[tuple[str, str, float, str, str]], int]:
    """Votes as (question, locale, weight, voter, article id); and how many visits voted."""
    votes = []
    voted = 0
    for n, item in enumerate(items):
        relevant = set(item["relevant"])
        for v in range(visitors):
            text = variant(item["query"], rng)
            ranked, suggested = outcome(searcher, text, item["locale"])
            voter = f"visitor-{n}-{v}"
            if suggested:
                slug, helpful = suggested[0], suggested[0] in relevant
            elif relevant and any(s in relevant for s in ranked):
                slug, helpful = next(s for s in ranked if s in relevant), True
            else:
                continue  # nothing to vote on: the visitor sends a ticket
            if rng.random() < noise:
                helpful = not helpful
            votes.append((text, item["locale"], 1.0 if helpful else -1.0, voter, slugs[slug]))
            voted += 1
    return votes, voted


def malicious(targets: list[tuple[dict[str, Any], str]], rng: random.Random) -> list[tuple[str, str, float, str, str]]:
    """One visitor voting Yes, many times each and in many words, for a wrong article on a few questions."""
    per = MALICIOUS_VOTES // len(targets)
    return [(variant(t["query"], rng), t["locale"], 1.0, "malicious", a) for t, a in targets for _ in range(per)]


def runner_up(searcher: Searcher, item: dict[str, Any]) -> str:
    """The best-ranked wrong article for ``item``: the one a malicious visitor could most easily push."""
    ranked, _ = searcher.rank(item["query"], item["locale"], "hybrid")
    return next(c.article_id for c in ranked if c.article_id.split("/", 1)[1] not in item["relevant"])


def evidence_of(
    searcher: Searcher, votes: list[tuple[str, str, float, str, str]], rng: random.Random
) -> list[Evidence]:
    """The votes as the site stores them: the question's embedding by each model, some days old."""
    now = utcnow()
    out = []
    for text, locale, weight, voter, article_id in votes:
        when = now - timedelta(days=rng.uniform(0, 30))
        for model, vector in question_vectors(searcher, text, locale).items():
            out.append(Evidence(model, article_id, weight, voter, when, vector))
    return out


def score(searcher: Searcher, items: list[dict[str, Any]], reads_learned: bool = False) -> dict[str, float]:
    """recall@1, recall@3, suggested right / wrong (answerable), none suggested (unanswerable)."""
    answerable = [i for i in items if i["relevant"]]
    unanswerable = [i for i in items if not i["relevant"]]
    r1 = r3 = right = wrong = none = 0
    for item in items:
        ranked, suggested = outcome(searcher, item["query"], item["locale"], reads_learned)
        relevant = set(item["relevant"])
        if not relevant:
            none += not suggested
            continue
        r1 += bool(ranked[:1]) and ranked[0] in relevant
        r3 += any(s in relevant for s in ranked)
        right += any(s in relevant for s in suggested)
        wrong += bool(suggested) and not any(s in relevant for s in suggested)
    a = max(1, len(answerable))
    return {
        "n": len(items),
        "recall@1": r1 / a,
        "recall@3": r3 / a,
        "suggested_right": right / a,
        "suggested_wrong": wrong / a,
        "no_suggestion_unanswerable": none / max(1, len(unanswerable)),
    }


def steered(searcher: Searcher, probes: list[tuple[dict[str, Any], str]]) -> dict[str, float]:
    """How often the malicious visitor's article ranks first, or is suggested, on the questions it voted on."""
    first = shown = 0
    lift = 0.0
    for item, article_id in probes:
        ranked, suggested = outcome(searcher, item["query"], item["locale"])
        slug = article_id.split("/", 1)[1]
        first += bool(ranked) and ranked[0] == slug
        shown += slug in suggested
        candidates, _ = searcher.rank(item["query"], item["locale"], "hybrid")
        lift += next((c.learned for c in candidates if c.article_id == article_id), 0.0)
    n = len(probes)
    return {"n": n, "ranked_first": first / n, "suggested": shown / n, "mean_lift": lift / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--visitors", type=int, default=3, help="visitors asking each earlier question")
    parser.add_argument("--noise", type=float, default=0.1, help="share of votes flipped")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--similarity", type=float, default=None, help="override KB_LEARNING_SIMILARITY")
    parser.add_argument("--max-adjustment", type=float, default=None, help="override KB_LEARNING_MAX_ADJUSTMENT")
    args = parser.parse_args()
    started = time.perf_counter()
    settings = Settings(articles_dir=ROOT / "articles", search_index_dir=ROOT / "search_index")
    tuning = tuning_of(settings)
    if args.similarity is not None:
        tuning = replace(tuning, similarity=args.similarity)
    if args.max_adjustment is not None:
        tuning = replace(tuning, max_adjustment=args.max_adjustment)
    library = load_library(settings.articles_dir)
    searcher = open_searcher(settings.search_index_dir, library, settings, Models())
    slugs = {a.slug: a.id for a in library if a.locale == "en"}
    rng = random.Random(args.seed)
    items = [json.loads(line) for line in FIT.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [i for i in items if all(s in slugs for s in i["relevant"])]
    rng.shuffle(items)
    earlier, later = items[: len(items) // 2], items[len(items) // 2 :]
    reasked = [dict(i, query=variant(i["query"], rng)) for i in earlier]
    chosen = rng.sample([i for i in earlier if i["relevant"] and i["locale"] == "en"], 5)
    targets = [(t, runner_up(searcher, t)) for t in chosen]
    probes = [(dict(t, query=variant(t["query"], rng)), a) for t, a in targets for _ in range(4)]

    before = {"reasked": score(searcher, reasked), "unseen": score(searcher, later)}
    steered_before = steered(searcher, probes)
    votes, voted = simulate_log(searcher, earlier, args.visitors, args.noise, rng, slugs)
    bad = malicious(targets, rng)
    evidence = evidence_of(searcher, votes + bad, rng)
    figures: dict[str, Any] = {
        "questions": {"earlier": len(earlier), "later": len(later)},
        "log": {"visits": len(earlier) * args.visitors, "votes": voted, "malicious_votes": len(bad)},
        "tuning": {
            "similarity": tuning.similarity,
            "half_life_days": tuning.half_life_days,
            "max": tuning.max_adjustment,
        },
        "malicious_articles": [a for _, a in targets],
        "before": before,
    }
    learned = LearnedRanking(tuning, lambda: evidence, refresh_seconds=1e9)
    searcher.learned = learned
    figures["after"] = {"reasked": score(searcher, reasked), "unseen": score(searcher, later)}
    figures["after_confidence_reads_learned"] = {
        "reasked": score(searcher, reasked, reads_learned=True),
        "unseen": score(searcher, later, reads_learned=True),
    }
    steered_after = steered(searcher, probes)
    uncapped = [replace(e, voter=f"{e.voter}-{i}") if e.voter == "malicious" else e for i, e in enumerate(evidence)]
    searcher.learned = LearnedRanking(tuning, lambda: uncapped, refresh_seconds=1e9)
    figures["malicious"] = {
        "before": steered_before,
        "after": steered_after,
        "after_without_cap": steered(searcher, probes),
    }
    searcher.learned = None
    assert isinstance(learned.memory(), Memory)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"log: {figures['log']}, tuning: {figures['tuning']}")
    keys = ("recall@1", "recall@3", "suggested_right", "suggested_wrong", "no_suggestion_unanswerable")
    print(f"{'set':<9} {'when':<30} " + " ".join(f"{k[:12]:>12}" for k in keys))
    for part in ("reasked", "unseen"):
        for when in ("before", "after", "after_confidence_reads_learned"):
            row = figures[when][part]
            print(f"{part:<9} {when[:30]:<30} " + " ".join(f"{row[k]:>12.3f}" for k in keys))
    print(f"one malicious visitor, {MALICIOUS_VOTES} votes for the runner-up on 5 questions (20 probes):")
    for when, row in figures["malicious"].items():
        print(
            f"  {when:<18} ranked first {row['ranked_first']:.3f}  suggested {row['suggested']:.3f}"
            f"  score added {row['mean_lift']:+.3f}"
        )
    print(f"({figures['seconds']} s)")


if __name__ == "__main__":
    main()
