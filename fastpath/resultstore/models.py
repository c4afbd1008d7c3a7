"""SQLAlchemy 2 typed models of the resultstore (guide §1.2.10).

Every table of the guide with its columns.  fastpath adds one column, ``key_hash``
(SHA-256 of the object's content, see :mod:`fastpath.resultstore.hashing`), to the tables
whose rows are deduplicated by content, and a ``fastpath_meta`` table recording the schema
version.  Results and errors carry a unique constraint over all their columns, so ingesting
or merging the same row twice never duplicates it.

The column order of each model is the column order of the CSV files.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    DateTime,
    Double,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 1

# SQLite only auto-increments an INTEGER PRIMARY KEY; MySQL gets BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Hash = CHAR(64)
Improvement = Enum("bigger", "smaller", name="improvement", native_enum=True,
                   create_constraint=False)

MYSQL_TABLE_ARGS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def _args(*items):
    return (*items, MYSQL_TABLE_ARGS)


class Base(DeclarativeBase):
    pass


def _pk() -> Mapped[int]:
    return mapped_column(Id, primary_key=True, autoincrement=True)


def _fk(target: str, nullable: bool = False) -> Mapped[int]:
    return mapped_column(Id, ForeignKey(f"{target}.id"), nullable=nullable)


class Meta(Base):
    __tablename__ = "fastpath_meta"
    __table_args__ = MYSQL_TABLE_ARGS
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class SutClass(Base):
    __tablename__ = "sutclass"
    __table_args__ = _args(UniqueConstraint("key_hash", name="uq_sutclass_key"))
    id: Mapped[int] = _pk()
    name: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(Hash)


class Sut(Base):
    __tablename__ = "sut"
    __table_args__ = _args(UniqueConstraint("key_hash", name="uq_sut_key"))
    id: Mapped[int] = _pk()
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    nodes_hash: Mapped[str] = mapped_column(Hash)
    sutclass_id: Mapped[int | None] = _fk("sutclass", nullable=True)
    key_hash: Mapped[str] = mapped_column(Hash)


class Node(Base):
    __tablename__ = "node"
    __table_args__ = _args(Index("ix_node_sut", "sut_id"))
    id: Mapped[int] = _pk()
    sut_id: Mapped[int] = _fk("sut")
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    host_name: Mapped[str] = mapped_column(Text)
    architecture: Mapped[str] = mapped_column(Text)
    cpu_count: Mapped[int] = mapped_column(SmallInteger)
    cpu_info_hash: Mapped[str] = mapped_column(Hash)
    numa_count: Mapped[int] = mapped_column(SmallInteger)
    ram_sz: Mapped[int] = mapped_column(BigInteger)
    hypervisor: Mapped[str] = mapped_column(Text)
    product_name: Mapped[str] = mapped_column(Text)
    product_serial: Mapped[str] = mapped_column(Text)
    mac_addrs_hash: Mapped[str] = mapped_column(Hash)


class Cpu(Base):
    __tablename__ = "cpu"
    __table_args__ = _args(Index("ix_cpu_node", "node_id"))
    id: Mapped[int] = _pk()
    desc: Mapped[str] = mapped_column(Text)
    cpu_index: Mapped[int] = mapped_column(SmallInteger)
    node_id: Mapped[int] = _fk("node")


class SwProfile(Base):
    __tablename__ = "swprofile"
    __table_args__ = _args(UniqueConstraint("key_hash", name="uq_swprofile_key"))
    id: Mapped[int] = _pk()
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    kernel_name: Mapped[str] = mapped_column(Text)
    kernel_git_sha: Mapped[str | None] = mapped_column(CHAR(40), nullable=True)
    kernel_kconfig_full_hash: Mapped[str | None] = mapped_column(Hash, nullable=True)
    kernel_cmdline_full_hash: Mapped[str] = mapped_column(Hash)
    userspace_name: Mapped[str] = mapped_column(Text)
    cmdline: Mapped[str] = mapped_column(Text)
    sysctl: Mapped[str] = mapped_column(Text)
    bootscript: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(Hash)


class Benchmark(Base):
    __tablename__ = "benchmark"
    __table_args__ = _args(UniqueConstraint("key_hash", name="uq_benchmark_key"))
    id: Mapped[int] = _pk()
    suite: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    image: Mapped[str] = mapped_column(Text)
    params_hash: Mapped[str] = mapped_column(Hash)
    roles_hash: Mapped[str] = mapped_column(Hash)
    key_hash: Mapped[str] = mapped_column(Hash)


class Param(Base):
    __tablename__ = "param"
    __table_args__ = _args(Index("ix_param_benchmark", "benchmark_id"))
    id: Mapped[int] = _pk()
    name: Mapped[str] = mapped_column(Text)
    value: Mapped[str] = mapped_column(Text)
    benchmark_id: Mapped[int] = _fk("benchmark")


class Role(Base):
    __tablename__ = "role"
    __table_args__ = _args(Index("ix_role_benchmark", "benchmark_id"))
    id: Mapped[int] = _pk()
    name: Mapped[str] = mapped_column(Text)
    benchmark_id: Mapped[int] = _fk("benchmark")


class RoleMap(Base):
    __tablename__ = "rolemap"
    __table_args__ = _args(UniqueConstraint("rmdescs_hash", name="uq_rolemap_key"))
    id: Mapped[int] = _pk()
    rmdescs_hash: Mapped[str] = mapped_column(Hash)


class RmDesc(Base):
    __tablename__ = "rmdesc"
    __table_args__ = _args(Index("ix_rmdesc_rolemap", "rolemap_id"))
    id: Mapped[int] = _pk()
    rolemap_id: Mapped[int] = _fk("rolemap")
    role_id: Mapped[int] = _fk("role")
    node_id: Mapped[int] = _fk("node")


class ResultClass(Base):
    __tablename__ = "resultclass"
    __table_args__ = _args(
        UniqueConstraint("key_hash", name="uq_resultclass_key"),
        Index("ix_resultclass_benchmark", "benchmark_id"),
    )
    id: Mapped[int] = _pk()
    benchmark_id: Mapped[int] = _fk("benchmark")
    name: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(Text)
    improvement: Mapped[str] = mapped_column(Improvement)
    key_hash: Mapped[str] = mapped_column(Hash)


class Result(Base):
    __tablename__ = "result"
    __table_args__ = _args(
        UniqueConstraint(
            "sut_id", "swprofile_id", "resultclass_id", "session_uuid", "timestamp",
            "role_id", "rolemap_id", "value", name="uq_result_row",
        ),
    )
    id: Mapped[int] = _pk()
    timestamp: Mapped[datetime] = mapped_column(Timestamp)
    resultclass_id: Mapped[int] = _fk("resultclass")
    sut_id: Mapped[int] = _fk("sut")
    swprofile_id: Mapped[int] = _fk("swprofile")
    rolemap_id: Mapped[int] = _fk("rolemap")
    role_id: Mapped[int] = _fk("role")
    session_uuid: Mapped[str] = mapped_column(CHAR(36))
    value: Mapped[float] = mapped_column(Double)


class Error(Base):
    __tablename__ = "error"
    __table_args__ = _args(
        UniqueConstraint(
            "sut_id", "swprofile_id", "benchmark_id", "session_uuid", "timestamp",
            "role_id", "rolemap_id", "error", name="uq_error_row",
        ),
    )
    id: Mapped[int] = _pk()
    timestamp: Mapped[datetime] = mapped_column(Timestamp)
    sut_id: Mapped[int] = _fk("sut")
    swprofile_id: Mapped[int] = _fk("swprofile")
    benchmark_id: Mapped[int] = _fk("benchmark")
    rolemap_id: Mapped[int] = _fk("rolemap")
    role_id: Mapped[int] = _fk("role")
    session_uuid: Mapped[str] = mapped_column(CHAR(36))
    error: Mapped[int] = mapped_column(Integer)


# Dependency order: parents before children (inserts, CSV writes, canonical dumps).
TABLES = [
    Meta.__table__, SutClass.__table__, Sut.__table__, Node.__table__, Cpu.__table__,
    SwProfile.__table__, Benchmark.__table__, Param.__table__, Role.__table__,
    RoleMap.__table__, RmDesc.__table__, ResultClass.__table__, Result.__table__,
    Error.__table__,
]
DATA_TABLES = TABLES[1:]
