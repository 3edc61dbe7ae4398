"""A keyed hash of the words a visitor asked the contact form, so evidence can prove it carries them.

The contact form's searches are stored without their text (a draft the visitor may never send). A vote
or an answer opened later sends the draft again, and only a draft that hashes to the search's key may
teach the search (kb.learning.asked): anyone can post any words, but not claim that the suggestions they
were shown were for them. HMAC-SHA256 under the app's secret key, over the draft's beginning with case and
spacing folded, then redacted; ``kb purge`` empties it after a day, when no vote of that day can need it.
"""

from __future__ import annotations

import hashlib
import hmac

from kb.tracking.redact import redact

KEPT_CHARACTERS = 300  # a long draft is known by its beginning: a vote keeps only its first 500 characters


def folded(text: str) -> str:
    """``text`` as two askings of the same words compare: case and spacing folded."""
    return " ".join(text.split()).casefold()


def draft_key(secret: str, text: str) -> str:
    """The key of the redacted ``text`` ("" for no words)."""
    words = redact(folded(text)[:KEPT_CHARACTERS])  # cut first: a vote may carry only the draft's beginning
    if not words:
        return ""
    return hmac.new(secret.encode(), words.encode(), hashlib.sha256).hexdigest()
