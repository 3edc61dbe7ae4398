"""Redaction: what a visitor typed, with the personal parts replaced before it is stored or logged.

One function, ``redact``, used by every recorder of visitor text (searches, the words carried to an
article, votes). It replaces e-mail addresses (``[email]``), IBAN-like account numbers (``[iban]``),
card-like numbers of 13 to 19 digits (``[card]``), phone numbers in international and local forms
(``[phone]``) and order-like ids (``#1234``, "order 123456", runs of 6 digits or more, tracking codes: ``[number]``).
Ordinary words and short numbers stay: "error 404", "iPhone 15", "2 items", "2024-05-01".
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re

EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]{4}){2,7}(?:[ ]?[A-Za-z0-9]{1,3})?\b")
ALNUM_ID = re.compile(r"\b(?=[A-Za-z0-9]*[A-Za-z])(?=[A-Za-z0-9]*\d{6})[A-Za-z0-9]{8,}\b")  # 1Z999AA10123456784
HASH_ID = re.compile(r"(?<![\w&])#\s?\d{3,}\b")
# "order 1234", "commande n° 4521", "Bestellung 88812", "pedido #4521", "주문번호 12345", "طلب رقم 7788"
ORDER_WORDS = (
    r"orders?|invoices?|commande|facture|bestellung|rechnung|pedido|factura|ordine|fattura|encomenda|"
    r"заказ|счёт|注文|订单|주문(?:번호)?|طلب|فاتورة"
)
ORDER_ID = re.compile(
    rf"(?i)(?P<word>\b(?:{ORDER_WORDS}))(?P<sep>\s*(?:n[o°º]\.?|nr\.?|number|num(?:ero|éro)?|id|رقم|#|:)?\s*)"
    r"(?P<id>[A-Za-z]{0,4}-?\d[\d-]{2,})"
)
# A run of digits with at most one separator between groups; "+", "00" or "(" may open a phone number.
DIGITS = re.compile(r"(?<![\dA-Za-z.])(?:\+|(?=\(?\d))\(?\d+\)?(?:[ .\-/]?\(?\d+\)?)*(?![\dA-Za-z])")
DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
LONG_RUN = 6  # digits in one unbroken run that read as an id (order, customer, tracking), not a count


def redact(text: str) -> str:
    """Return ``text`` with e-mails, IBANs, cards, phone numbers and order-like ids replaced by placeholders."""
    if not text or not any(c.isdigit() or c == "@" for c in text):
        return text
    text = EMAIL.sub("[email]", text)
    text = IBAN.sub(_iban, text)
    text = ORDER_ID.sub(lambda m: f"{m['word']}{m['sep']}[number]", text)
    text = HASH_ID.sub("[number]", text)
    text = ALNUM_ID.sub("[number]", text)
    return DIGITS.sub(_number, text)


def _iban(match: re.Match[str]) -> str:
    """An IBAN has at least 15 characters and digits in its body; "ab12 cdef ghij" is a word salad, kept."""
    value = match.group(0).replace(" ", "")
    digits = sum(c.isdigit() for c in value)
    return "[iban]" if len(value) >= 15 and digits >= 8 else match.group(0)


def _number(match: re.Match[str]) -> str:
    """Classify one run of digits: a card, a phone number, an id, or an ordinary number kept as it is."""
    value = match.group(0)
    digits = sum(c.isdigit() for c in value)
    separated = any(not c.isdigit() for c in value.lstrip("+"))
    longest = max(len(run) for run in re.findall(r"\d+", value))
    if DATE.fullmatch(value):
        return value
    if value.startswith("+") and 7 <= digits <= 15:
        return "[phone]"
    if 13 <= digits <= 19 and not value.startswith(("+", "(")):
        return "[card]"
    if separated and 7 <= digits <= 15 and longest <= 8:
        return "[phone]"
    if longest >= LONG_RUN or digits > 19:
        return "[number]"
    return value


def pseudonym(value: str, key: str) -> str:
    """A keyed hash of ``value`` (an e-mail) for logs: the same person reads the same, the address never."""
    digest = hmac.new(key.encode("utf-8"), value.strip().lower().encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:12]


QUERY_STRING = re.compile(r"(?<=\S)\?[^\s\"]*")


class QueryStringFilter(logging.Filter):
    """Drop query strings from the development server's request lines (``GET /search?q=...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(QUERY_STRING.sub("", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = QUERY_STRING.sub("", record.msg)
        return True
