"""holder_db: the cardholder base-information store (see docs/holder_db.md)."""
