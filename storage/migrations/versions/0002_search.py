"""search: full-text index over article titles and texts

Revision ID: 0002_search
Revises: 0001_baseline

SQLite: an external-content FTS5 table `articles_fts` (title, text) whose rowid
is `articles.id`, kept in step by triggers on `articles`. `unicode61
remove_diacritics 2` folds accents, so "Pjöngjang" finds "Pjongjang".

PostgreSQL: the same shape, a table `articles_fts` (article_id, vector) with a
GIN index `ix_articles_search`, filled by a trigger on `articles` and emptied by
its foreign key's ON DELETE CASCADE. The vector is title (weight 'A') and text
('B'). It is stored, not an expression index on `articles`: ranking needs the
vector of every matching row, and an expression index stores none, so each
search re-parsed the text of every match (450 ms for a word in 2,000 of 5,000
articles, against 10-20 ms stored; benchmarks/search.py). A side table rather
than a generated column keeps `articles` exactly as the models describe it.
The text search configuration `newswatch_search` is 'simple' (no stemming, no
stop words: the corpus is multilingual and one language's stemmer would mangle
the others) with `unaccent` in front when the server offers that extension, so
both backends fold diacritics alike; without it the configuration is plain
'simple' and accents must match.

Later migrations that rebuild `articles` on SQLite (alembic batch mode copies,
drops and renames the table) drop these triggers with it: recreate them there.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision = "0002_search"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

SQLITE_UPGRADE = (
    """CREATE VIRTUAL TABLE articles_fts USING fts5(
        title, text, content='articles', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
    END""",
    """CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
    END""",
    """CREATE TRIGGER articles_fts_update AFTER UPDATE OF id, title, text ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
        INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
    END""",
    "INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')",
)

SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS articles_fts_update",
    "DROP TRIGGER IF EXISTS articles_fts_delete",
    "DROP TRIGGER IF EXISTS articles_fts_insert",
    "DROP TABLE IF EXISTS articles_fts",
)

# Every token type the 'simple' configuration maps, so `unaccent` sees them all.
PG_TOKEN_TYPES = (
    "asciiword, word, numword, asciihword, hword, numhword, "
    "hword_asciipart, hword_part, hword_numpart"
)

PG_VECTOR = """setweight(to_tsvector('newswatch_search'::regconfig, {row}.title), 'A')
    || setweight(to_tsvector('newswatch_search'::regconfig, {row}.text), 'B')"""

PG_UPGRADE = (
    """CREATE TABLE articles_fts (
        article_id integer PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
        vector tsvector NOT NULL)""",
    # Compressed in the row, not in TOAST: the planner does not price TOAST reads and
    # chose a sequential scan that detoasted every vector (12 ms at 5,000 articles, 56 ms
    # at 20,000, against 1.3 and 1.5 ms with the GIN index that MAIN storage leads it to).
    "ALTER TABLE articles_fts ALTER COLUMN vector SET STORAGE MAIN",
    "CREATE INDEX ix_articles_search ON articles_fts USING gin (vector)",
    f"""CREATE FUNCTION articles_fts_sync() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        INSERT INTO articles_fts (article_id, vector) VALUES (NEW.id, {PG_VECTOR.format(row="NEW")})
        ON CONFLICT (article_id) DO UPDATE SET vector = EXCLUDED.vector;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER articles_fts_sync AFTER INSERT OR UPDATE OF title, text ON articles
        FOR EACH ROW EXECUTE FUNCTION articles_fts_sync()""",
    f"""INSERT INTO articles_fts (article_id, vector)
        SELECT a.id, {PG_VECTOR.format(row="a")} FROM articles a""",
)

PG_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS articles_fts_sync ON articles",
    "DROP FUNCTION IF EXISTS articles_fts_sync()",
    "DROP TABLE IF EXISTS articles_fts",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS newswatch_search",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_UPGRADE:
            op.execute(statement)
        return
    op.execute("CREATE TEXT SEARCH CONFIGURATION newswatch_search (COPY = pg_catalog.simple)")
    schema = _unaccent_schema()
    if schema is not None:
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION newswatch_search ALTER MAPPING FOR "
            f'{PG_TOKEN_TYPES} WITH "{schema}".unaccent, pg_catalog.simple'
        )
    for statement in PG_UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    statements = SQLITE_DOWNGRADE if op.get_bind().dialect.name == "sqlite" else PG_DOWNGRADE
    for statement in statements:
        op.execute(statement)


def _unaccent_schema() -> str | None:
    """The schema holding the `unaccent` dictionary, installing the extension if the
    server has it and we may (it is a trusted extension since PostgreSQL 13); None
    when it cannot be had, and search then stays accent-sensitive."""
    bind = op.get_bind()
    available = "SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'"
    if bind.execute(text(available)).first() is None:
        return None
    savepoint = bind.begin_nested()
    try:
        bind.execute(text("CREATE EXTENSION IF NOT EXISTS unaccent"))
    except DBAPIError:  # no privilege: keep the migration going without it
        savepoint.rollback()
        return None
    savepoint.commit()
    where = """SELECT n.nspname FROM pg_extension e
               JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent'"""
    schema: str = bind.execute(text(where)).scalar_one()
    return schema
