"""Database engine, sessions and schema migrations (created by functions, never at import)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from ..core.errors import WorkspaceError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


BUSY_TIMEOUT_S = 10.0
SQLITE_HEADER = b"SQLite format 3\x00"


def _uri(db_path: Path, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{Path(db_path).resolve().as_uri()}?{query}" if query else Path(db_path).resolve().as_uri()


def make_engine(db_path: Path, busy_timeout_s: float = BUSY_TIMEOUT_S, read_only: bool = False,
                immutable: bool = False) -> Engine:
    """SQLite engine with WAL, foreign keys and a busy timeout on every connection.

    `read_only` opens the file with mode=ro and never sets the journal mode, so reading needs
    no write at all; `immutable` (only for a full disk, with no pending WAL) also skips the
    shared-memory file that a WAL reader would otherwise have to create.
    """
    import sqlite3

    params = {"mode": "ro"} if read_only else {}
    if immutable:
        params["immutable"] = "1"
    uri = _uri(db_path, **params)

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, check_same_thread=False)

    # A creator hides the file from SQLAlchemy, which would then assume a memory database.
    engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool, future=True)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, record) -> None:  # noqa: ANN001
        record.info["db_path"] = str(db_path)  # lets model hooks find the workspace folder
        cur = dbapi_conn.cursor()
        if not read_only:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        if not read_only:
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def read_revision(db_path: Path, immutable: bool = False) -> str | None:
    """The schema revision of a database file, read through a read-only connection, so a
    database this Inspector may not touch is never changed (not even its journal mode).

    Raises sqlite3.DatabaseError for a file that is not a database or is damaged, and
    WorkspaceError for another program's database (tables, but none of Inspector's).
    """
    import sqlite3

    params = {"mode": "ro", **({"immutable": "1"} if immutable else {})}
    con = sqlite3.connect(_uri(db_path, **params), uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "alembic_version" not in tables:
            if tables - {"sqlite_sequence"}:
                raise WorkspaceError(
                    f"{db_path} is another program's database (tables {', '.join(sorted(tables)[:3])}), "
                    "not Inspector's — choose another folder for the workspace (nothing was changed)")
            return None
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None
    finally:
        con.close()


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {rev.revision for rev in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}


# Checked at every open: the small tables a workspace cannot work without. A damaged page in
# the (large) history is met, and reported as damage, by the query that reads it.
CHECKED_TABLES = ("alembic_version", "products", "reference_images")


def quick_check(engine: Engine) -> str:
    """'ok', or the first problem SQLite finds in the schema and the small core tables, in time
    that does not grow with the history (a whole-file check of a year's history takes seconds)."""
    with engine.connect() as conn:
        present = {n for (n,) in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")}
        for table in (t for t in CHECKED_TABLES if t in present):  # an older schema may lack one
            verdict = str(conn.exec_driver_sql(f"PRAGMA quick_check({table})").scalar())
            if verdict != "ok":
                return verdict
    return "ok"


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(connection):  # noqa: ANN001, ANN202
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return row[0] if row else None


def newer_schema_error(revision: str) -> WorkspaceError:
    return WorkspaceError(
        f"this workspace's database has schema version {revision}, made by a newer "
        "Inspector — update Inspector to open it (nothing was changed)")


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest version; refuse a database from a newer Inspector."""
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    known = {rev.revision for rev in script.walk_revisions()}
    current = current_revision(engine)
    if current is not None and current not in known:
        raise newer_schema_error(current)
    if current == script.get_current_head():
        return
    with engine.connect() as conn:
        # A migration may rebuild a table; with foreign keys on, dropping the old table would
        # cascade-delete every child row. SQLite's documented procedure: keys off, then check.
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        try:
            with conn.begin():
                command.upgrade(_alembic_config(conn), "head")
                problems = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if problems:
                    raise WorkspaceError(
                        f"upgrading the workspace database found {len(problems)} broken reference(s) "
                        "— restore inspector.db from a backup (nothing was changed)")
        finally:
            conn.invalidate()  # the keys-off connection must not go back to the pool


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One session per user action: commits on success, rolls back on error."""
    with factory() as session, session.begin():
        yield session
