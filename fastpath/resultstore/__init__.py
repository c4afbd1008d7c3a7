"""The resultstore: CSV directory, SQLite file or MySQL database (guide §1.2.5, §1.2.10).

This package is the only importer of sqlalchemy, alembic and pymysql.

    with open_store("sqlite:///results.db", create=True) as store:
        store.ingest(batch)
"""

from __future__ import annotations

from fastpath.records import Batch
from fastpath.resultstore.store import Store, open_store, store_exists
from fastpath.resultstore.url import StoreURL, parse_url

__all__ = ["Store", "StoreURL", "ingest", "open_store", "parse_url", "store_exists"]


def ingest(url: str, batches: list[Batch], *, create: bool = True) -> None:
    """Open ``url`` (creating the store if needed) and ingest ``batches`` in one transaction."""
    with open_store(url, create=create) as store:
        store.ingest_many(list(batches))
