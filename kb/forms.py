"""Flask-WTF forms: what a visitor may send, with the limits and the messages shown next to each field."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

NAME_MAX = 100
EMAIL_MAX = 254
SUBJECT_MAX = 200
MESSAGE_MIN = 10
MESSAGE_MAX = 5000
STORE_URL_MAX = 300
CAME_FROM_MAX = 500


def _store_address(_form: Any, field: Any) -> None:
    """Accept a full URL or a bare domain such as ``mystore.myshopify.com``; the value is kept as typed."""
    value = (field.data or "").strip()
    if not value:
        return
    try:
        parts = urlsplit(value if "://" in value else f"https://{value}")
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or "." not in host.strip(".")
        or any(c.isspace() for c in value)
    ):
        raise ValidationError(_l("Enter your store's web address, for example mystore.myshopify.com."))


class ContactForm(FlaskForm):
    """The contact form; the data fields are carried over untouched by the page that suggests answers."""

    name = StringField(
        _l("Your name"),
        validators=[
            DataRequired(_l("Tell us your name.")),
            Length(max=NAME_MAX, message=_l("Keep your name under %(max)d characters.")),
        ],
    )
    email = EmailField(
        _l("Your email address"),
        validators=[
            DataRequired(_l("Enter your email address so we can answer you.")),
            Email(_l("Enter an email address like name@example.com.")),
            Length(max=EMAIL_MAX, message=_l("This email address is too long.")),
        ],
    )
    subject = StringField(
        _l("Subject"),
        validators=[
            DataRequired(_l("Give your message a subject.")),
            Length(max=SUBJECT_MAX, message=_l("Keep the subject under %(max)d characters.")),
        ],
    )
    message = TextAreaField(
        _l("Your question"),
        validators=[
            DataRequired(_l("Write your question.")),
            Length(min=MESSAGE_MIN, max=MESSAGE_MAX, message=_l("Write between %(min)d and %(max)d characters.")),
        ],
    )
    topic = SelectField(_l("Topic"), choices=[], validate_choice=True)
    store_url = StringField(
        _l("Your store's address (optional)"),
        validators=[Optional(), Length(max=STORE_URL_MAX, message=_l("This address is too long.")), _store_address],
    )
    # A field people never see and bots fill in: a filled one means the message is not stored.
    website = StringField(_l("Leave this field empty"))
    came_from = HiddenField(name="from", validators=[Length(max=CAME_FROM_MAX)])
    js = HiddenField()  # "1" when the page's script ran: the visitor saw suggestions while typing

    DATA_FIELDS = ("name", "email", "subject", "message", "topic", "store_url", "came_from")

    def set_topics(self, topics: list[tuple[str, str]]) -> None:
        """Offer ``topics`` (category slug, title) after a first choice meaning 'not sure'."""
        self.topic.choices = [("", str(_l("Not sure / something else")))] + topics

    @property
    def is_spam(self) -> bool:
        return bool((self.website.data or "").strip())

    def submission(self) -> dict[str, str]:
        """The data fields as typed, by name (``from`` for where the visitor came from)."""
        return {name: getattr(self, name).data or "" for name in self.DATA_FIELDS}

    def hidden_fields(self) -> list[tuple[str, str]]:
        """(input name, value) of every data field, to carry them over in hidden inputs."""
        return [(getattr(self, name).name, getattr(self, name).data or "") for name in self.DATA_FIELDS]
