"""Fixtures for tests that go through a real pcscd and the vpcd virtual reader."""
