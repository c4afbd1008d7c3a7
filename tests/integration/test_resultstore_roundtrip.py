"""CSV -> SQLite -> MySQL -> CSV keeps every byte (canonical dumps and the CSV files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastpath.resultstore import ingest, open_store
from fastpath.resultstore.dump import canonical_text
from fastpath.resultstore.merge import merge
from fastpath.resultstore.models import TABLES
from tests.integration.test_resultstore_factory import batch, demo_batches

pytestmark = pytest.mark.integration


def dump(url: str) -> str:
    with open_store(url, readonly=True) as store, store.connect() as conn:
        return canonical_text(conn)


def files(directory: Path) -> dict[str, bytes]:
    return {t.name: (directory / f"{t.name}.csv").read_bytes() for t in TABLES}


def test_csv_sqlite_mysql_csv_round_trip(tmp_path, mariadb_server, mysql_db):
    csv1 = tmp_path / "csv1"
    ingest(str(csv1), demo_batches())
    # awkward values: tiny/huge/negative floats, unicode, quotes and newlines in text
    ingest(str(csv1), [batch(values={("lat\u00e9ncy, \"p99\"", "\u00b5s", "smaller"):
                                     [0.1 + 0.2, 1e-300, -2.5e300, 5e-324, 123456789.12345678]},
                             session="sess-\u2603")])
    sqlite_url = f"sqlite:///{tmp_path / 'b.db'}"
    mysql_url = mariadb_server.url(mysql_db)
    csv2 = tmp_path / "csv2"
    merge([str(csv1)], sqlite_url)
    merge([sqlite_url], mysql_url)
    merge([mysql_url], f"csv://{csv2}")
    first = dump(str(csv1))
    assert first == dump(sqlite_url) == dump(mysql_url) == dump(str(csv2))
    assert files(csv1) == files(csv2)
    assert "5e-324" in (csv2 / "result.csv").read_text()
    assert "0.30000000000000004" in (csv2 / "result.csv").read_text()
