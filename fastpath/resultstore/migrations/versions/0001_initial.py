"""initial schema (version 1): every table of guide §1.2.10 plus fastpath_meta

Revision ID: 0001
Revises:
Create Date: 2026-12-03 17:58:59.522670
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "benchmark",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("suite", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("image", sa.Text(), nullable=False),
        sa.Column("params_hash", sa.CHAR(length=64), nullable=False),
        sa.Column("roles_hash", sa.CHAR(length=64), nullable=False),
        sa.Column("key_hash", sa.CHAR(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash", name="uq_benchmark_key"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "fastpath_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "rolemap",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("rmdescs_hash", sa.CHAR(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rmdescs_hash", name="uq_rolemap_key"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "sutclass",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.CHAR(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash", name="uq_sutclass_key"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "swprofile",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("kernel_name", sa.Text(), nullable=False),
        sa.Column("kernel_git_sha", sa.CHAR(length=40), nullable=True),
        sa.Column("kernel_kconfig_full_hash", sa.CHAR(length=64), nullable=True),
        sa.Column("kernel_cmdline_full_hash", sa.CHAR(length=64), nullable=False),
        sa.Column("userspace_name", sa.Text(), nullable=False),
        sa.Column("cmdline", sa.Text(), nullable=False),
        sa.Column("sysctl", sa.Text(), nullable=False),
        sa.Column("bootscript", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.CHAR(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash", name="uq_swprofile_key"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "param",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column(
            "benchmark_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["benchmark_id"],
            ["benchmark.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("param", schema=None) as batch_op:
        batch_op.create_index("ix_param_benchmark", ["benchmark_id"], unique=False)

    op.create_table(
        "resultclass",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "benchmark_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("improvement", sa.Enum("bigger", "smaller", name="improvement"), nullable=False),
        sa.Column("key_hash", sa.CHAR(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["benchmark_id"],
            ["benchmark.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash", name="uq_resultclass_key"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("resultclass", schema=None) as batch_op:
        batch_op.create_index("ix_resultclass_benchmark", ["benchmark_id"], unique=False)

    op.create_table(
        "role",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "benchmark_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["benchmark_id"],
            ["benchmark.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("role", schema=None) as batch_op:
        batch_op.create_index("ix_role_benchmark", ["benchmark_id"], unique=False)

    op.create_table(
        "sut",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("nodes_hash", sa.CHAR(length=64), nullable=False),
        sa.Column(
            "sutclass_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("key_hash", sa.CHAR(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["sutclass_id"],
            ["sutclass.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash", name="uq_sut_key"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "error",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "timestamp",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column("sut_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "swprofile_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "benchmark_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "rolemap_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("role_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("session_uuid", sa.CHAR(length=36), nullable=False),
        sa.Column("error", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["benchmark_id"],
            ["benchmark.id"],
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["role.id"],
        ),
        sa.ForeignKeyConstraint(
            ["rolemap_id"],
            ["rolemap.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sut_id"],
            ["sut.id"],
        ),
        sa.ForeignKeyConstraint(
            ["swprofile_id"],
            ["swprofile.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "sut_id",
            "swprofile_id",
            "benchmark_id",
            "session_uuid",
            "timestamp",
            "role_id",
            "rolemap_id",
            "error",
            name="uq_error_row",
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "node",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("sut_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("host_name", sa.Text(), nullable=False),
        sa.Column("architecture", sa.Text(), nullable=False),
        sa.Column("cpu_count", sa.SmallInteger(), nullable=False),
        sa.Column("cpu_info_hash", sa.CHAR(length=64), nullable=False),
        sa.Column("numa_count", sa.SmallInteger(), nullable=False),
        sa.Column("ram_sz", sa.BigInteger(), nullable=False),
        sa.Column("hypervisor", sa.Text(), nullable=False),
        sa.Column("product_name", sa.Text(), nullable=False),
        sa.Column("product_serial", sa.Text(), nullable=False),
        sa.Column("mac_addrs_hash", sa.CHAR(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["sut_id"],
            ["sut.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.create_index("ix_node_sut", ["sut_id"], unique=False)

    op.create_table(
        "result",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "timestamp",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "resultclass_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sut_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "swprofile_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "rolemap_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("role_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("session_uuid", sa.CHAR(length=36), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resultclass_id"],
            ["resultclass.id"],
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["role.id"],
        ),
        sa.ForeignKeyConstraint(
            ["rolemap_id"],
            ["rolemap.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sut_id"],
            ["sut.id"],
        ),
        sa.ForeignKeyConstraint(
            ["swprofile_id"],
            ["swprofile.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "sut_id",
            "swprofile_id",
            "resultclass_id",
            "session_uuid",
            "timestamp",
            "role_id",
            "rolemap_id",
            "value",
            name="uq_result_row",
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "cpu",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("desc", sa.Text(), nullable=False),
        sa.Column("cpu_index", sa.SmallInteger(), nullable=False),
        sa.Column("node_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["node.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("cpu", schema=None) as batch_op:
        batch_op.create_index("ix_cpu_node", ["node_id"], unique=False)

    op.create_table(
        "rmdesc",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "rolemap_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("role_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("node_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["node.id"],
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["role.id"],
        ),
        sa.ForeignKeyConstraint(
            ["rolemap_id"],
            ["rolemap.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("rmdesc", schema=None) as batch_op:
        batch_op.create_index("ix_rmdesc_rolemap", ["rolemap_id"], unique=False)
    meta = sa.table("fastpath_meta", sa.column("key", sa.String), sa.column("value", sa.String))
    op.bulk_insert(meta, [{"key": "schema_version", "value": "1"}])


def downgrade() -> None:
    with op.batch_alter_table("rmdesc", schema=None) as batch_op:
        batch_op.drop_index("ix_rmdesc_rolemap")

    op.drop_table("rmdesc")
    with op.batch_alter_table("cpu", schema=None) as batch_op:
        batch_op.drop_index("ix_cpu_node")

    op.drop_table("cpu")
    op.drop_table("result")
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.drop_index("ix_node_sut")

    op.drop_table("node")
    op.drop_table("error")
    op.drop_table("sut")
    with op.batch_alter_table("role", schema=None) as batch_op:
        batch_op.drop_index("ix_role_benchmark")

    op.drop_table("role")
    with op.batch_alter_table("resultclass", schema=None) as batch_op:
        batch_op.drop_index("ix_resultclass_benchmark")

    op.drop_table("resultclass")
    with op.batch_alter_table("param", schema=None) as batch_op:
        batch_op.drop_index("ix_param_benchmark")

    op.drop_table("param")
    op.drop_table("swprofile")
    op.drop_table("sutclass")
    op.drop_table("rolemap")
    op.drop_table("fastpath_meta")
    op.drop_table("benchmark")
