"""widget sources (issue 13)

Revision ID: c5e3a7b92d33
Revises: b4d2f6a81c22
Create Date: 2026-11-29 21:30:00.000000

Searches, votes and tickets say where they came from: ``channel`` is "site" (the help center, its
contact page included) or "widget" (the panel inside the merchant's product), and ``page_path`` is the
host page's path the widget was open on ("" on the site).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c5e3a7b92d33"
down_revision = "b4d2f6a81c22"
branch_labels = None
depends_on = None

TABLES = ("search_events", "votes", "tickets")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("channel", sa.String(16), nullable=False, server_default="site"))
            batch.add_column(sa.Column("page_path", sa.String(500), nullable=False, server_default=""))
    op.create_index("ix_search_events_channel_page", "search_events", ["channel", "page_path"])


def downgrade() -> None:
    op.drop_index("ix_search_events_channel_page", table_name="search_events")
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("page_path")
            batch.drop_column("channel")
