"""Alembic environment: always run with a connection handed in by inspector.storage.database."""

from alembic import context

from inspector.storage.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
