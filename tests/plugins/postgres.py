"""Fixtures for tests that run against a real PostgreSQL server started by the test setup."""
