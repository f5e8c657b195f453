"""signing_keys, api_clients, api_client_roles: token signing keys and HTTP Basic clients

Revision ID: 0003_tokens
Revises: 0001_users
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_tokens"
down_revision = "0001_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("public_jwk", postgresql.JSONB(), nullable=False),
        # PKCS#8, encrypted with the key passphrase (never stored here).
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        # Set when a newer key takes over signing; published until its last tokens expired.
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("alg IN ('EdDSA', 'ES256')", name="ck_signing_keys_alg"),
    )
    op.create_index("ix_signing_keys_alg_created", "signing_keys", ["alg", "created_at"])
    op.create_table(
        "api_clients",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "api_client_roles",
        sa.Column("client_pk", postgresql.UUID(as_uuid=True), sa.ForeignKey("api_clients.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("role_name", sa.String(64), sa.ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("api_client_roles")
    op.drop_table("api_clients")
    op.drop_index("ix_signing_keys_alg_created", table_name="signing_keys")
    op.drop_table("signing_keys")
