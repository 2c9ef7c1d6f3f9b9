"""Product ids are never reused: products gets AUTOINCREMENT.

Without it SQLite gives a new product max(id)+1, so after the newest product is deleted
(or a delete is cut short before its folder is removed) the next product would inherit
products/<id>/ on disk.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite cannot alter a table's AUTOINCREMENT: rebuild it (foreign keys are off meanwhile).
    with op.batch_alter_table("products", recreate="always",
                              table_kwargs={"sqlite_autoincrement": True}):
        pass


def downgrade() -> None:
    with op.batch_alter_table("products", recreate="always",
                              table_kwargs={"sqlite_autoincrement": False}):
        pass
