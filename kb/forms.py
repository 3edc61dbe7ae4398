"""Flask-WTF forms: what a visitor may send, with the limits and the messages shown next to each field."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from kb.tracking.votes import COMMENT_MAX, REASONS, Answer

NAME_MAX = 100
EMAIL_MAX = 254
SUBJECT_MAX = 200
MESSAGE_MIN = 10
MESSAGE_MAX = 5000
STORE_URL_MAX = 300
CAME_FROM_MAX = 500
NEXT_MAX = 500
FIELD_MAX = 500  # any other field: no form of kb takes more (issue 14: a length limit on every field)


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


class PostedForm(FlaskForm):
    """A form read from posted form fields only: a JSON body (``[1]``, ``"x"``) is no form, never a 500."""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            if request.is_json:
                formdata = request.form  # empty: the fields are missing and say so
            return super().wrap_formdata(form, formdata)


class ContactForm(PostedForm):
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
    website = StringField(_l("Leave this field empty"), validators=[Length(max=FIELD_MAX)])
    came_from = HiddenField(name="from", validators=[Length(max=CAME_FROM_MAX)])
    js = HiddenField(validators=[Length(max=8)])  # "1" when the page's script ran: the visitor saw suggestions

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


FEEDBACK_QUERY_MAX = 500  # the search that led to the article, as kept with the vote
FEEDBACK_QUERY_POSTED_MAX = 2000  # longer is not a search the site made: refused


class FeedbackForm(PostedForm):
    """The article's "Did this answer your question?": Yes or No (step "vote"), then after a No why
    (step "reason"); the field names are those templates/feedback/_widget.html and feedback.js post."""

    article_id = HiddenField(validators=[Length(max=FIELD_MAX)])
    query = HiddenField(validators=[Length(max=FEEDBACK_QUERY_POSTED_MAX)])
    step = HiddenField(validators=[Length(max=16)])
    helpful = StringField(validators=[Length(max=16)])
    reason = StringField(validators=[Length(max=64)])
    comment = TextAreaField(validators=[Length(max=COMMENT_MAX * 4)])  # validate_comment says the real limit

    @property
    def asks_why(self) -> bool:
        return self.step.data == "reason"

    def validate_helpful(self, field: Any) -> None:
        if not self.asks_why and str(field.data or "").lower() not in ("yes", "no"):
            raise ValidationError(_l("Answer Yes or No."))

    def validate_reason(self, field: Any) -> None:
        if self.asks_why and field.data and field.data not in REASONS:
            raise ValidationError(_l("Choose one of the reasons."))

    def validate_comment(self, field: Any) -> None:
        if self.asks_why and len(str(field.data or "").strip()) > COMMENT_MAX:
            raise ValidationError(_l("Keep your comment under %(max)d characters.", max=COMMENT_MAX))

    def first_error(self) -> str:
        """The message to show for the first field that did not validate ("" when none)."""
        return next((str(messages[0]) for messages in self.errors.values() if messages), "")

    @property
    def query_text(self) -> str:
        return " ".join(str(self.query.data or "").split())[:FEEDBACK_QUERY_MAX]

    def answer(self) -> Answer:
        """What the visitor answered, ready to store."""
        return Answer(
            step="reason" if self.asks_why else "vote",
            helpful=str(self.helpful.data or "").lower() == "yes",
            reason=self.reason.data or None,
            comment=str(self.comment.data or "").strip() or None,
            query=self.query_text,
        )


PASSWORD_MAX = 1000


class LoginForm(PostedForm):
    """The admin's sign-in: any field that does not validate reads as a wrong email or password."""

    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=EMAIL_MAX)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=PASSWORD_MAX)])
    next = HiddenField(
        validators=[Length(max=NEXT_MAX)]
    )  # the admin page to return to; anything off /admin leads to the overview
