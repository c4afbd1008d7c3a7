"""Shared pytest configuration: fixture plugins contributed by each area."""

pytest_plugins = ["tests.integration.mariadb", "tests.integration.sut"]
