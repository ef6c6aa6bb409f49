"""libpq URLs as the settings read them: one host or several (a primary and its standbys), with
libpq's own keywords passed through, so a writer finds the primary after a failover."""

from __future__ import annotations

import pytest

from infrastructure.settings import Settings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://cj@db:5432/casejourney",
            {"host": "db", "port": "5432", "dbname": "casejourney", "user": "cj", "password": ""},
        ),
        (
            "postgresql://cj:p%40ss@db1:5432,db2:5433/casejourney?target_session_attrs=read-write",
            {
                "host": "db1,db2",
                "port": "5432,5433",
                "dbname": "casejourney",
                "user": "cj",
                "password": "p@ss",
                "target_session_attrs": "read-write",
            },
        ),
        (
            "postgresql://cj@[::1]:5433,db2/casejourney?target_session_attrs=prefer-standby&sslmode=require",
            {
                "host": "::1,db2",
                "port": "5433,5432",
                "dbname": "casejourney",
                "user": "cj",
                "password": "",
                "target_session_attrs": "prefer-standby",
                "sslmode": "require",
            },
        ),
    ],
)
def test_a_url_becomes_libpqs_keywords_host_by_host(url: str, expected: dict[str, str]) -> None:
    assert Settings(store="postgres", postgres_url=url).postgres_params() == expected


def test_the_store_is_described_host_by_host_and_never_with_its_password() -> None:
    said = Settings(store="postgres", postgres_url="postgresql://cj:secret@db1:5432,db2:5433/cj").describe_store()
    assert said == "PostgreSQL cj@db1:5432,db2:5433/cj, schema " and "secret" not in said


def test_a_read_url_is_where_read_commands_read_and_only_there() -> None:
    settings = Settings(
        store="postgres",
        postgres_url="postgresql://cj@db1,db2/cj?target_session_attrs=read-write",
        postgres_read_url="postgresql://auditor@db1,db2/cj?target_session_attrs=prefer-standby",
    )
    reading = settings.for_reading()
    assert reading.postgres_params()["user"] == "auditor"
    assert reading.postgres_params()["target_session_attrs"] == "prefer-standby"
    assert settings.postgres_params()["target_session_attrs"] == "read-write"
    assert Settings(store="postgres", postgres_url="postgresql://cj@db/cj").for_reading().postgres_url == (
        "postgresql://cj@db/cj"
    )
