"""Contract tables in a PostgreSQL schema, read through Ibis's postgres backend."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cxlib.engine import ROW_ORDER
from cxlib.sources._common import TABLE_NAMES, SourceError, _no_rejects, _unreadable, first_line
from cxlib.sources._locations import _split_userinfo, mask_url

log = logging.getLogger(__name__)


PG_SCHEMES: tuple[str, ...] = ("postgresql", "postgres")


LOAD_ORDER_COLUMN = ROW_ORDER
"""Optional integer column of a database table: rows are read in its order and its value is the
row number of a quarantined row. It is not passed on to the contract."""


SUPPRESS_RELATION = "suppress"
"""Database sources: the relation holding the suppression list (``customer_id``, ``reason``)."""


PG_CONNECT_TIMEOUT_S = 10


_RELKINDS = ("r", "v", "m", "p", "f")  # tables, views, materialized views, partitioned, foreign


@dataclass(frozen=True, repr=False)
class PostgresURL:
    """The parts of ``postgresql://user[:password]@host[:port]/database[/schema][?options]``.

    ``options`` are libpq connection keywords (``sslmode=require``, ``connect_timeout=30`` …).
    """

    host: str
    port: int
    database: str
    user: str | None = None
    password: str | None = None
    schema: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:  # never shows the password
        user = f"{self.user}{':***' if self.password is not None else ''}@" if self.user else ""
        schema = f"/{self.schema}" if self.schema else ""
        return f"PostgresURL('postgresql://{user}{self.host}:{self.port}/{self.database}{schema}')"

    @classmethod
    def parse(cls, url: str) -> PostgresURL:
        """Parse a URL; raises :class:`SourceError` (password masked) when malformed."""
        from urllib.parse import parse_qsl, unquote, urlsplit

        shown = mask_url(url)
        form = "postgresql://user@host:port/database/schema"
        try:
            parts = urlsplit(url)
            port = parts.port or 5432
        except ValueError as exc:
            raise SourceError(
                f"{shown}: not a valid PostgreSQL URL ({exc}). Fix: use {form}."
            ) from None
        if parts.scheme.lower() not in PG_SCHEMES:
            raise SourceError(f"{shown}: not a PostgreSQL URL. Fix: use {form}.")
        path = [unquote(p) for p in parts.path.split("/") if p]
        if not path:
            raise SourceError(f"{shown}: the URL names no database. Fix: use {form}.")
        if len(path) > 2:
            raise SourceError(
                f"{shown}: too many path parts ('/{'/'.join(path)}'); after the host come the "
                f"database and, optionally, the schema. Fix: use {form}."
            )
        _, user, password, _ = _split_userinfo(url)
        options = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key.lower() == "password":
                password = password if password is not None else value
            elif key.lower() == "schema":
                raise SourceError(
                    f"{shown}: the schema goes in the path, not in '?schema='. Fix: use {form}."
                )
            else:
                options.append((key, value))
        return cls(
            host=parts.hostname or "localhost",
            port=port,
            database=path[0],
            user=unquote(user) if user else None,
            password=unquote(password) if password is not None else None,
            schema=path[1] if len(path) > 1 else None,
            options=tuple(options),
        )


@dataclass(frozen=True)
class RelationPath:
    """Where a table of a database source lives; stands in for a file's path in messages
    (``str``) and in the counts table (``name``)."""

    location: str  # the source URL, masked, without schema
    schema: str
    relation: str

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.relation}"

    def __str__(self) -> str:
        return f"table {self.name} in {self.location}"


@dataclass(frozen=True)
class TableRelation:
    """One contract table's relation in a database source."""

    table: str
    path: RelationPath
    kind: str = "postgres"


def _pg_reason(exc: BaseException) -> tuple[str, str]:
    """A short reason and a fix for a PostgreSQL connection error."""
    text = str(exc).strip()
    low = text.lower()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    first = lines[0] if lines else type(exc).__name__
    if "connection refused" in low:
        return (
            "connection refused: no server is listening there",
            "start the PostgreSQL server or correct the host and port in the URL",
        )
    if "could not translate host name" in low or "name or service not known" in low:
        return "unknown host name", "correct the host in the URL"
    if "timeout expired" in low or "timed out" in low:
        return (
            f"no answer within {PG_CONNECT_TIMEOUT_S} s",
            "check the host, port and firewall (or add ?connect_timeout=60 to the URL)",
        )
    if "password authentication failed" in low or "no password supplied" in low:
        return (
            "authentication failed",
            "check the user and password (set PGPASSWORD or use ~/.pgpass rather than a "
            "password in the URL)",
        )
    if "role" in low and "does not exist" in low:
        return "the user does not exist on the server", "correct the user in the URL"
    if "database" in low and "does not exist" in low:
        return (
            "the database does not exist",
            "correct the database in the URL (postgresql://user@host:port/DATABASE/schema)",
        )
    if "invalid connection option" in low or "invalid dsn" in low:
        return first.split(":", 1)[-1].strip(), "remove or correct the option in the URL"
    if "no pg_hba.conf entry" in low or "permission denied" in low:
        return "the server refuses this user or host", "ask the database administrator"
    return first, "check the URL and that the server is running"


class PostgresSource:
    """Contract tables in one schema of a PostgreSQL database, read through Ibis's postgres
    backend.

    Tables are found by contract name (relation names matched case-insensitively; tables,
    views and materialized views count); ``table_files`` (``tables.<name>.file`` in the config)
    may name another relation, ``relation`` or ``schema.relation``. Every column is read as text
    (cast in the query, ``NULL`` stays missing), so typed tables and all-text staging tables go
    through the same contract typing as a CSV file. Rows come in the order of the optional
    integer column ``cx_row_number`` (then also the row numbers of quarantined rows), else
    sorted by all columns, so that reads are deterministic. A relation named ``suppress`` is the
    suppression list. The server is only ever read from.

    Parameters
    ----------
    url : str
        ``postgresql://user[:password]@host[:port]/database[/schema][?libpq options]``; without
        a schema the user's current schema (normally ``public``). A password is better given
        through ``PGPASSWORD`` or ``~/.pgpass``; it is never shown (see :func:`mask_url`).
    table_files : mapping, optional
        ``{table: relation}`` overrides.
    """

    kind = "postgres"

    def __init__(self, url: str, table_files: Mapping[str, str] | None = None):
        self.url = PostgresURL.parse(str(url))
        self.location = mask_url(url)
        self._con = self._connect()
        self.schema = self.url.schema or self._scalar("SELECT current_schema()")
        if not self.schema:
            raise SourceError(
                f"{self.location}: the user has no current schema (empty search_path). Fix: "
                "name the schema in the URL: postgresql://user@host:port/database/schema."
            )
        if not self._scalar("SELECT count(*) FROM pg_namespace WHERE nspname = %s", self.schema):
            raise SourceError(
                f"{self.location}: schema '{self.schema}' does not exist in database "
                f"'{self.url.database}'. Fix: correct the schema in the URL "
                "(postgresql://user@host:port/database/SCHEMA) or create it and load the tables."
            )
        base = mask_url(str(url)).split("?", 1)[0]
        self._base = base if self.url.schema is None else base.rsplit("/", 1)[0]
        self.files, self._suppress = self._discover(dict(table_files or {}))

    def __repr__(self) -> str:
        return f"PostgresSource({self.location!r}, tables={sorted(self.files)})"

    @property
    def con(self) -> Any:
        """The Ibis postgres connection."""
        return self._con

    def _connect(self) -> Any:
        try:
            import ibis
        except ImportError as exc:  # pragma: no cover - ibis is a dependency
            raise SourceError(f"{self.location}: Ibis is missing ({exc}).") from None
        options = dict(self.url.options)
        options.setdefault("connect_timeout", str(PG_CONNECT_TIMEOUT_S))
        try:
            return ibis.postgres.connect(
                host=self.url.host,
                port=self.url.port,
                user=self.url.user,
                password=self.url.password,
                database=self.url.database,
                **options,
            )
        except ImportError as exc:
            raise SourceError(
                f"{self.location}: the PostgreSQL driver is not installed ({exc}). Fix: "
                "pip install -e . (cxlib depends on psycopg)."
            ) from None
        except Exception as exc:  # psycopg.OperationalError / ProgrammingError
            reason, fix = _pg_reason(exc)
            raise SourceError(
                f"{self.location}: cannot connect to PostgreSQL ({reason}). Fix: {fix}."
            ) from None

    def _execute(self, query: Any, *params: Any) -> list[tuple]:
        """Run a read-only query on the connection behind Ibis and return its rows."""
        try:
            with self._con.con.cursor() as cur:
                cur.execute(query, params or None)
                return cur.fetchall()
        except Exception as exc:
            first = first_line(exc)
            raise SourceError(
                f"{self.location}: query failed ({first}). Fix: check that the user in the URL "
                "may read the schema and its tables."
            ) from None

    def _scalar(self, query: Any, *params: Any) -> Any:
        rows = self._execute(query, *params)
        return rows[0][0] if rows else None

    def _relations(self, schema: str) -> list[str]:
        rows = self._execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = ANY(%s) ORDER BY c.relname",
            schema,
            list(_RELKINDS),
        )
        return [r[0] for r in rows]

    def _find(self, schema: str, name: str) -> str | None:
        """The relation called ``name`` in ``schema``: exact match, else the one match ignoring
        case (several: an error)."""
        rels = self._relations(schema)
        if name in rels:
            return name
        hits = [r for r in rels if r.lower() == name.lower()]
        if len(hits) > 1:
            raise SourceError(
                f"{self._base}: both {schema}.{hits[0]} and {schema}.{hits[1]} match table "
                f"'{name}' (names are matched ignoring case). Fix: drop or rename one of them, "
                f"or name one in tables.{name}.file in the config."
            )
        return hits[0] if hits else None

    def _discover(
        self, overrides: dict[str, str]
    ) -> tuple[dict[str, TableRelation], TableRelation | None]:
        found: dict[str, TableRelation] = {}
        for table, name in overrides.items():
            schema, _, rel = str(name).rpartition(".")
            schema = schema or self.schema
            hit = self._find(schema, rel)
            if hit is None:
                raise SourceError(
                    f"{self._base}: relation '{schema}.{rel}' named for table '{table}' in the "
                    f"config does not exist. Fix: correct tables.{table}.file in the config."
                )
            found[table] = TableRelation(table, RelationPath(self._base, schema, hit))
        for table in TABLE_NAMES:
            if table not in found:
                hit = self._find(self.schema, table)
                if hit is not None:
                    found[table] = TableRelation(table, RelationPath(self._base, self.schema, hit))
        if not found:
            present = self._relations(self.schema)
            raise SourceError(
                f"{self._base}: schema '{self.schema}' holds none of the contract tables "
                f"({', '.join(TABLE_NAMES)}); it has "
                f"{', '.join(present[:10]) + (' …' if len(present) > 10 else '') or 'no tables'}. "
                "Fix: name the schema that holds them in the URL "
                "(postgresql://user@host:port/database/schema), or map relations with "
                "tables.<name>.file in the config."
            )
        hit = self._find(self.schema, SUPPRESS_RELATION)
        suppress = (
            TableRelation(SUPPRESS_RELATION, RelationPath(self._base, self.schema, hit))
            if hit
            else None
        )
        return found, suppress

    def has(self, table: str) -> bool:
        return table in self.files

    def _read_text(self, rel: TableRelation) -> tuple[pd.DataFrame, str | None]:
        """All columns of a relation as text, in load order (or sorted by every column);
        returns the frame and the name of the load-order column (None when absent)."""
        import warnings

        where = rel.path
        try:
            t = self._con.table(where.relation, database=where.schema)
            schema = t.schema()
        except Exception as exc:
            raise _unreadable(where, exc) from None
        cols = list(schema.names)
        folded = [c.strip().lower() for c in cols]
        dupes = sorted({c for c in folded if folded.count(c) > 1})
        if dupes:
            raise SourceError(
                f"{where}: column '{dupes[0]}' appears more than once (names are matched "
                "ignoring case). Fix: rename or drop one of them."
            )
        order = next((c for c in cols if c.lower() == LOAD_ORDER_COLUMN), None)
        if order is not None and not schema[order].is_integer():
            raise SourceError(
                f"{where}: column '{order}' (the load order) must be a whole-number column, "
                f"not {schema[order]}. Fix: make it bigint (e.g. GENERATED ALWAYS AS IDENTITY) "
                "or drop it."
            )
        data_cols = [c for c in cols if c != order]
        text = [t[c].cast("string").name(c) for c in data_cols]
        if order is not None:
            expr = t.select(t[order].name(order), *text).order_by(order)
        else:
            expr = t.select(*text).order_by(data_cols)
        try:
            with warnings.catch_warnings():  # Ibis 12 asks pandas 3 a deprecated option
                warnings.filterwarnings("ignore", message=".*future.infer_string")
                df = expr.to_pandas()
        except Exception as exc:
            raise _unreadable(where, exc) from None
        for c in data_cols:
            df[c] = df[c].astype("str")
        return df, order

    def read_raw(self, table: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Read a table's relation with every column as text.

        Returns
        -------
        (rows, rejects)
            ``rows`` indexed by row number (the ``cx_row_number`` column when present, else
            1..n in the sorted order); ``rejects`` is always empty (a database has no
            malformed lines).
        """
        rel = self.files[table]
        df, order = self._read_text(rel)
        if order is None:
            df.index = pd.RangeIndex(1, len(df) + 1)
            return df, _no_rejects()
        numbers = df.pop(order)
        if numbers.isna().any() or not numbers.is_unique:
            raise SourceError(
                f"{rel.path}: column '{order}' (the load order) has empty or repeated values. "
                "Fix: give every row its own number, or drop the column."
            )
        df.index = pd.Index(numbers.astype("int64").to_numpy(), name=None)
        return df, _no_rejects()

    def suppression_list(self) -> pd.DataFrame | None:
        """The ``suppress`` relation as text (``customer_id``, ``reason``), or None when the
        schema has none; ``attrs["source"]`` names it for messages."""
        if self._suppress is None:
            return None
        df, order = self._read_text(self._suppress)
        if order is not None:
            df = df.drop(columns=order)
        df.attrs["source"] = str(self._suppress.path)
        return df.reset_index(drop=True)

    def fingerprints(self) -> dict[str, dict[str, Any]]:
        """Per table: relation, row count and an order-independent checksum of the content
        (sum over rows of the first 60 bits of the MD5 of the row's text, modulo 2**64),
        computed by the server in one scan without holding the table."""
        from psycopg import sql

        out: dict[str, dict[str, Any]] = {}
        for table, rel in sorted(self.files.items()):
            query = sql.SQL(
                "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)"
                "::bigint), 0) FROM {}.{} AS t"
            ).format(sql.Identifier(rel.path.schema), sql.Identifier(rel.path.relation))
            n, total = self._execute(query)[0]
            out[table] = {
                "source": self._base,
                "relation": rel.path.name,
                "rows": int(n),
                "checksum": f"md5sum60:{int(total) % (1 << 64):016x}",
            }
        return out
