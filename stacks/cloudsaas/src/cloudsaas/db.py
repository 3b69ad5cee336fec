"""PostgreSQL (Amazon RDS in the seed): transactional data — organisations, users,
subscriptions, invoices, the payment ledger and document records.

The connection comes from the ``DB_SECRET_ARN`` secret in Secrets Manager, in RDS's shape
(``{"engine", "host", "port", "username", "password", "dbname"}``), read once per execution
environment; one connection per environment is kept (the runtime runs one invocation at a time
per environment). A failed connection or a dropped session re-reads the secret and reconnects
once; if that fails too, ``DatabaseUnavailable`` (the API answers 503, a state machine task
retries it). Every query of tenant data carries ``org_id``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cloudsaas.common import env, log

__all__ = ["SCHEMA", "DatabaseUnavailable", "apply_schema", "fetch_all", "fetch_one", "transaction"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS organizations (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS users (
    id          text PRIMARY KEY,
    org_id      text NOT NULL REFERENCES organizations(id),
    username    text NOT NULL,
    email       text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'member')),
    status      text NOT NULL DEFAULT 'active',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, email)
);
CREATE TABLE IF NOT EXISTS subscriptions (
    id                      text PRIMARY KEY,
    org_id                  text NOT NULL REFERENCES organizations(id),
    plan                    text NOT NULL,
    status                  text NOT NULL,
    paypal_subscription_id  text NOT NULL UNIQUE,
    approval_token          text,
    current_period_end      timestamptz,
    pending_plan            text,
    failed_attempts         integer NOT NULL DEFAULT 0,
    grace_until             timestamptz,
    cancelled_at            timestamptz,
    created_by              text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS subscriptions_org ON subscriptions (org_id, created_at);
CREATE TABLE IF NOT EXISTS invoices (
    id               text PRIMARY KEY,
    org_id           text NOT NULL REFERENCES organizations(id),
    subscription_id  text NOT NULL REFERENCES subscriptions(id),
    kind             text NOT NULL,
    plan             text NOT NULL,
    amount_cents     integer NOT NULL,
    currency         text NOT NULL DEFAULT 'USD',
    status           text NOT NULL,
    paypal_sale_id   text,
    period_end       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS invoices_org ON invoices (org_id, created_at);
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS refunded_cents integer NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS refunds (
    id               text PRIMARY KEY,
    invoice_id       text NOT NULL REFERENCES invoices(id),
    org_id           text NOT NULL,
    amount_cents     integer NOT NULL CHECK (amount_cents > 0),
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS payment_events (
    event_id         text PRIMARY KEY,
    org_id           text NOT NULL,
    subscription_id  text NOT NULL,
    event_type       text NOT NULL,
    amount_cents     integer,
    currency         text,
    received_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS documents (
    id            text PRIMARY KEY,
    org_id        text NOT NULL REFERENCES organizations(id),
    name          text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL,
    s3_key        text NOT NULL,
    uploaded_by   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS documents_org ON documents (org_id, created_at);
"""


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached (or the secret does not name a server yet)."""


_state: dict[str, Any] = {"conn": None, "dsn": None}


def _dsn() -> dict[str, Any]:
    import boto3

    arn = env("DB_SECRET_ARN")
    if not arn:
        raise DatabaseUnavailable("DB_SECRET_ARN is not set")
    try:
        raw = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        secret = json.loads(raw)
    except Exception as exc:
        raise DatabaseUnavailable(f"cannot read the database secret: {exc}") from None
    if not secret.get("host") or not secret.get("port"):
        raise DatabaseUnavailable("the database secret names no server yet")
    return {
        "host": str(secret["host"]),
        "port": int(secret["port"]),
        "user": str(secret["username"]),
        "password": str(secret["password"]),
        "dbname": str(secret.get("dbname") or "postgres"),
    }


def _connect(fresh_secret: bool) -> Any:
    import psycopg
    from psycopg.rows import dict_row

    if fresh_secret or _state["dsn"] is None:
        _state["dsn"] = _dsn()
    try:
        conn = psycopg.connect(
            **_state["dsn"],
            connect_timeout=int(env("DB_CONNECT_TIMEOUT_S", "3")),
            row_factory=dict_row,
            autocommit=False,
        )
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(str(exc).strip()[:300]) from None
    _state["conn"] = conn
    return conn


def _connection() -> Any:
    """The kept session if it still answers, else a new one (re-reading the secret on failure:
    the server may have moved with a new deploy)."""
    import psycopg

    conn = _state["conn"]
    if conn is not None and not conn.closed and not conn.broken:
        try:
            conn.execute("SELECT 1")
            conn.rollback()
            return conn
        except psycopg.Error:
            _state["conn"] = None
    try:
        return _connect(fresh_secret=False)
    except DatabaseUnavailable:
        time.sleep(0.1)
        return _connect(fresh_secret=True)


@contextmanager
def transaction() -> Iterator[Any]:
    """A cursor in a transaction: committed on success, rolled back on error. A lost session is
    ``DatabaseUnavailable`` (the next call reconnects)."""
    import psycopg

    conn = _connection()
    started = time.perf_counter()
    try:
        with conn.transaction(), conn.cursor() as cur:
            yield cur
    except psycopg.OperationalError as exc:
        _state["conn"] = None
        raise DatabaseUnavailable(str(exc).strip()[:300]) from None
    # the seed's KPI "database query time < 50 ms (p95)": one line per transaction (its queries
    # and the commit), read by stacks/cloudsaas/checks.py::db_query_p95_ms
    log(logging.INFO, "db query", ms=round((time.perf_counter() - started) * 1000, 2))


def fetch_all(sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with transaction() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def fetch_one(sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
    with transaction() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
        return dict(row) if row is not None else None


def apply_schema(conn: Any) -> None:
    """Create the tables (idempotent); ``conn`` is any psycopg connection."""
    with conn.transaction():
        conn.execute(SCHEMA)
