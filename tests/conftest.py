"""Shared fixtures: a real pcscd with the vpcd virtual reader, and a real PostgreSQL server."""
pytest_plugins = ["tests.plugins.pcsc", "tests.plugins.postgres", "tests.plugins.redis"]
