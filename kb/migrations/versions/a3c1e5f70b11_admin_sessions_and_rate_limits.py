"""admin sessions and rate limits (issue 14)

Admin sessions live in the database so a logout (or removing the user) ends them everywhere; rate-limit
counters live there too, so every worker and host shares them. A vote gains ``voter``, a keyed hash of the
client address and the day, so one address counts once per article and day however often it drops cookies.

Revision ID: a3c1e5f70b11
Revises: 7c2d9e4f1a20
Create Date: 2026-11-29 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a3c1e5f70b11"
down_revision = "7c2d9e4f1a20"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name="uq_admin_sessions_token_hash"),
    )
    op.create_index("ix_admin_sessions_user_id", "admin_sessions", ["user_id"], unique=False)
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_rate_limits_expires_at", "rate_limits", ["expires_at"], unique=False)
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voter", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_vote_voter_article", ["voter", "article_id"])


def downgrade() -> None:
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.drop_constraint("uq_vote_voter_article", type_="unique")
        batch_op.drop_column("voter")
    op.drop_index("ix_rate_limits_expires_at", table_name="rate_limits")
    op.drop_table("rate_limits")
    op.drop_index("ix_admin_sessions_user_id", table_name="admin_sessions")
    op.drop_table("admin_sessions")
