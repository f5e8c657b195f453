"""role_permissions, role_parents, policies

Revision ID: 0004_authz
Revises: 0001_users
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_authz"
down_revision = "0001_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "role_permissions",
        sa.Column("role_name", sa.String(64), sa.ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("permission", sa.String(160), primary_key=True),
    )
    op.create_table(
        "role_parents",
        sa.Column("role_name", sa.String(64), sa.ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("parent_name", sa.String(64), sa.ForeignKey("roles.name", ondelete="CASCADE"),
                  primary_key=True),
        sa.CheckConstraint("role_name <> parent_name", name="ck_role_parents_not_self"),
    )
    op.create_index("ix_role_parents_parent_name", "role_parents", ["parent_name"])
    op.create_table(
        "policies",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("effect", sa.String(8), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(64), nullable=False),
        sa.Column("conditions", postgresql.JSONB(), nullable=True),
        sa.Column("fields", postgresql.JSONB(), nullable=True),
        sa.Column("role_name", sa.String(64), sa.ForeignKey("roles.name", ondelete="CASCADE"), nullable=True),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("effect IN ('allow', 'deny')", name="ck_policies_effect"),
        sa.CheckConstraint("(role_name IS NULL) <> (user_id IS NULL)", name="ck_policies_one_holder"),
    )
    op.create_index("ix_policies_role_name", "policies", ["role_name"])
    op.create_index("ix_policies_user_id", "policies", ["user_id"])


def downgrade() -> None:
    op.drop_table("policies")
    op.drop_table("role_parents")
    op.drop_table("role_permissions")
