"""Broadcast outbox: jobs, their pending recipients, the shared send schedule per platform.

Revision ID: 002
Revises: 001
Create Date: 2025-11-27

New tables only. ``broadcast_recipients`` points at ``subscriptions`` with ON DELETE CASCADE,
so an unsubscribe, a forget or a 403 cancels pending sends; ``subscriptions`` itself is not
altered (SQLite batch mode would rebuild it and drop the referencing rows' meaning).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "002"
down_revision: str | Sequence[str] | None = "001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the outbox tables."""
    op.create_table(
        "broadcast_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("platforms", sa.String(length=128), nullable=False),
        sa.Column("languages", sa.String(length=255), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("gone", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Text(), nullable=True),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("progress_platform", sa.String(length=32), nullable=True),
        sa.Column("progress_address", sa.String(length=255), nullable=True),
        sa.Column("progress_message", sa.String(length=64), nullable=True),
        sa.Column("progress_language", sa.String(length=16), nullable=True),
        sa.Column("progress_owner", sa.String(length=64), nullable=True),
        sa.Column("progress_lease", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_jobs")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_broadcast_jobs_state"), "broadcast_jobs", ["state"], unique=False)
    op.create_index(op.f("ix_broadcast_jobs_owner"), "broadcast_jobs", ["owner"], unique=False)
    op.create_table(
        "broadcast_recipients",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("state", sa.SmallInteger(), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["broadcast_jobs.id"],
            name=op.f("fk_broadcast_recipients_job_id_broadcast_jobs"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["subscriptions.id"],
            name=op.f("fk_broadcast_recipients_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "subscription_id", name=op.f("pk_broadcast_recipients")),
    )
    op.create_index(
        op.f("ix_broadcast_recipients_job_id_platform_state_subscription_id"),
        "broadcast_recipients",
        ["job_id", "platform", "state", "subscription_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_broadcast_recipients_subscription_id"),
        "broadcast_recipients",
        ["subscription_id"],
        unique=False,
    )
    op.create_table(
        "broadcast_rate",
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.Column("worker_seen", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("platform", name=op.f("pk_broadcast_rate")),
    )


def downgrade() -> None:
    """Drop the outbox tables (queued broadcasts are lost)."""
    op.drop_table("broadcast_rate")
    op.drop_index(
        op.f("ix_broadcast_recipients_subscription_id"), table_name="broadcast_recipients"
    )
    op.drop_index(
        op.f("ix_broadcast_recipients_job_id_platform_state_subscription_id"),
        table_name="broadcast_recipients",
    )
    op.drop_table("broadcast_recipients")
    op.drop_index(op.f("ix_broadcast_jobs_owner"), table_name="broadcast_jobs")
    op.drop_index(op.f("ix_broadcast_jobs_state"), table_name="broadcast_jobs")
    op.drop_table("broadcast_jobs")
