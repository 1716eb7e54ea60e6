"""Initial schema: preferences, aggregate counters, subscriptions, processed updates.

Revision ID: 001
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the tables of release 0.1."""
    op.create_table(
        "preferences",
        sa.Column("person", sa.String(length=128), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("chosen", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("person", name=op.f("pk_preferences")),
    )
    op.create_table(
        "referral_arrivals",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("count >= 0", name=op.f("ck_referral_arrivals_count_not_negative")),
        sa.PrimaryKeyConstraint("code", "platform", "day", name=op.f("pk_referral_arrivals")),
    )
    op.create_table(
        "arrival_markers",
        sa.Column("marker", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("marker", name=op.f("pk_arrival_markers")),
    )
    op.create_table(
        "sign_clicks",
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("country", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("count >= 0", name=op.f("ck_sign_clicks_count_not_negative")),
        sa.PrimaryKeyConstraint("language", "country", "day", name=op.f("pk_sign_clicks")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person", sa.String(length=128), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("created_day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("person", name=op.f("uq_subscriptions_person")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_subscriptions_platform_address"),
        "subscriptions",
        ["platform", "address"],
        unique=False,
    )
    op.create_table(
        "processed_updates",
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "update_id", name=op.f("pk_processed_updates")),
    )
    op.create_index(
        op.f("ix_processed_updates_day"), "processed_updates", ["day"], unique=False
    )


def downgrade() -> None:
    """Drop everything (all data is lost)."""
    op.drop_index(op.f("ix_processed_updates_day"), table_name="processed_updates")
    op.drop_table("processed_updates")
    op.drop_index(op.f("ix_subscriptions_platform_address"), table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_table("sign_clicks")
    op.drop_table("arrival_markers")
    op.drop_table("referral_arrivals")
    op.drop_table("preferences")
