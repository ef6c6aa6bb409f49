"""A scratch PostgreSQL schema for one benchmark or drill run: made fresh, dropped afterwards."""

from __future__ import annotations

import uuid

import psycopg
from psycopg import sql


def create_scratch_schema(postgres_url: str, prefix: str) -> str:
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return schema


def drop_scratch_schema(postgres_url: str, schema: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
