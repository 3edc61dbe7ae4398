"""contact draft key (issue 12)

Revision ID: e7a5c9db4f55
Revises: d6f4b8ca3e44
Create Date: 2026-12-01 03:20:00.000000

The contact form's searches keep a keyed hash of the draft (never its text), so a vote or an answer
opened that teaches the search must carry the words the suggestions were shown for.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e7a5c9db4f55"
down_revision = "d6f4b8ca3e44"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("search_events") as batch:
        batch.add_column(sa.Column("draft", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("search_events") as batch:
        batch.drop_column("draft")
