"""The panel's words in the visitor's language: the help center's own translations where it has the same
sentence (the vote, the contact form), and the widget's few own sentences here."""

from __future__ import annotations

from flask_babel import force_locale, gettext

from kb.i18n import locales
from kb.tracking.votes import REASONS

# key -> English text; most are msgids the help center's catalogues already translate.
TEXTS = {
    "help": "Help",
    "close": "Close",
    "search": "Search the help center",
    "suggested": "Suggested for this page",
    "results": "Answers",
    "none": "No answer found. Try other words, or contact us.",
    "loading": "Loading the answer…",
    "sections": "On this page",
    "back": "Back",
    "ask": "Did this answer your question?",
    "yes": "Yes",
    "no": "No",
    "why": "Sorry about that. What was wrong?",
    "comment": "Anything else we should know? (optional)",
    "comment_hint": "Up to 1000 characters. Please do not include personal details; to get an answer, contact support.",
    "send": "Send",
    "thanks": "Thank you for your feedback.",
    "contact": "Contact support",
    "name": "Your name",
    "email": "Your email address",
    "subject": "Subject",
    "message": "Your question",
    "send_message": "Send message",
    "before": "Before you send: do any of these answer your question?",
    "answered": "Yes, this answered my question",
    "send_anyway": "I still want to send my message",
    "glad": "Great, glad that answered your question",
    "sent": "Your message has been sent",
    "reference": "Your reference:",
    "error": "Sorry, something went wrong. Please try again.",
    "refused": "Help is not available on this site.",
    "open_site": "Open in the help center",
}

OWN = {
    "ar": {
        "help": "المساعدة",
        "close": "إغلاق",
        "suggested": "مقترحات لهذه الصفحة",
        "results": "الإجابات",
        "none": "لم نجد إجابة. جرّب كلمات أخرى أو تواصل معنا.",
        "back": "رجوع",
        "reference": "رقم المرجع:",
        "error": "عذرًا، حدث خطأ. حاول مرة أخرى.",
        "refused": "المساعدة غير متاحة على هذا الموقع.",
        "open_site": "افتح في مركز المساعدة",
    },
    "fr": {
        "help": "Aide",
        "close": "Fermer",
        "suggested": "Suggestions pour cette page",
        "results": "Réponses",
        "none": "Aucune réponse trouvée. Essayez d'autres mots, ou contactez-nous.",
        "back": "Retour",
        "reference": "Votre référence :",
        "error": "Désolé, une erreur est survenue. Réessayez.",
        "refused": "L'aide n'est pas disponible sur ce site.",
        "open_site": "Ouvrir dans le centre d'aide",
    },
    "ko": {
        "help": "도움말",
        "close": "닫기",
        "suggested": "이 페이지 추천 문서",
        "results": "답변",
        "back": "뒤로",
        "error": "문제가 발생했습니다. 다시 시도해 주세요.",
    },
}


def panel_strings(locale: str) -> dict[str, object]:
    """The panel's texts, direction and vote reasons in ``locale`` (English where there is no translation)."""
    own = OWN.get(locale, {})
    with force_locale(locale):
        texts = {key: own.get(key) or gettext(english) for key, english in TEXTS.items()}
        reasons = [[code, str(reason.asked)] for code, reason in REASONS.items()]  # in the site's order
    return {"texts": texts, "reasons": reasons, "dir": locales.direction(locale), "locale": locale}
