"""privacy and delivery (issue 14)

Revision ID: b4d2f6a81c22
Revises: a3c1e5f70b11
Create Date: 2026-11-29 21:30:00.000000

The outbox records when each try began (``last_attempt_at``), committed with "sending" before anything is
sent, so a message whose outcome is unknown shows when it went out. The privacy work (redaction, text-free
contact suggestions, ``kb purge``) changes what is written, not the columns.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "b4d2f6a81c22"
down_revision = "a3c1e5f70b11"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_attempt_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("last_attempt_at")
