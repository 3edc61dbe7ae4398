"""Extension objects, made once and bound to each app in ``create_app`` (``init_app``)."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
# Who is signed in to /admin; kb.views.admin loads the user and ends idle sessions.
login_manager = LoginManager()
# Counted per client address (the real one behind KB_PROXY_COUNT proxies); storage from RATELIMIT_STORAGE_URI:
# kbdb:// (the database, shared by every worker and host; kb.security.rate_store) by default, redis:// or
# memory://. Only routes that ask for a limit have one.
limiter = Limiter(key_func=get_remote_address)
