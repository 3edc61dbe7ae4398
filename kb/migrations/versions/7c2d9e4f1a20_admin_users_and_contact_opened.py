"""admin users, the contact form opened, and the indexes the analytics need (issue 6)

The indexes were measured with bench/analytics_load.py over a million events (its ``--before`` run drops
them): visitors' histories in time order for the 24-hour windows, and date-range scans that read only
the index.

Revision ID: 7c2d9e4f1a20
Revises: 1e0bac532a83
Create Date: 2026-11-23 14:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "7c2d9e4f1a20"
down_revision = "1e0bac532a83"
branch_labels = None
depends_on = None

ANALYTICS_INDEXES = [
    # The 24-hour windows of deflection: "what did this visitor do just before or after".
    ("ix_tickets_visitor_created", "tickets", ["visitor", "created_at"]),
    ("ix_article_views_visitor_created", "article_views", ["visitor", "created_at"]),
    ("ix_answers_opened_visitor_created", "answers_opened", ["visitor", "created_at"]),
    ("ix_search_events_visitor_created", "search_events", ["visitor", "created_at"]),
    # Searches in a date range, read from the index alone. Time comes first: led by source, SQLite (which
    # keeps no statistics unless ANALYZE runs) chose it over the visitor index for the 24-hour windows, and
    # a ticket's "shown suggestions the day before" check scanned every contact search (90 s at 1M events).
    (
        "ix_search_events_created_source",
        "search_events",
        ["created_at", "source", "result_count", "confidence", "visitor"],
    ),
    # Views per article in a date range, read from the index alone.
    ("ix_article_views_created_article", "article_views", ["created_at", "article_id"]),
]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "contact_opened",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("visitor", "day", name="uq_contact_opened_visitor_day"),
    )
    with op.batch_alter_table("contact_opened", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_opened_created_at"), ["created_at"], unique=False)
    # Votes are one per visitor and article (voting again updates the row); the contact form's migration
    # made the constraint already, so nothing to add here.
    for name, table, columns in ANALYTICS_INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(ANALYTICS_INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("contact_opened", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_opened_created_at"))
    op.drop_table("contact_opened")
    op.drop_table("users")
