"""learned evidence (issue 12)

Revision ID: d6f4b8ca3e44
Revises: c5e3a7b92d33
Create Date: 2026-11-29 21:35:00.000000

What visitors' answers taught the search (kb.learning): a question's embedding (never its text), the
article it was about, whether that article solved it, and a keyed hash of who said so.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "d6f4b8ca3e44"
down_revision = "c5e3a7b92d33"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learned_evidence",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("vote_id", sa.Integer(), nullable=True),
        sa.Column("opened_id", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(16), nullable=False),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("article_id", sa.String(200), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("voter", sa.String(64), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("vote_id", "model", name="uq_learned_evidence_vote_model"),
        sa.UniqueConstraint("opened_id", "model", name="uq_learned_evidence_opened_model"),
    )
    op.create_index("ix_learned_evidence_created_at", "learned_evidence", ["created_at"])
    op.create_index("ix_learned_evidence_article_id", "learned_evidence", ["article_id"])


def downgrade() -> None:
    op.drop_index("ix_learned_evidence_article_id", table_name="learned_evidence")
    op.drop_index("ix_learned_evidence_created_at", table_name="learned_evidence")
    op.drop_table("learned_evidence")
