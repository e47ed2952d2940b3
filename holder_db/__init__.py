"""holder_db: the cardholder base-information store (see docs/holder_db.md), the only door to it.

standing (the current card; may this holder be served), cards (the lifecycle), queries, counter (payment and
settlement for terminals), ecard (what the e-card server reads and writes), server_state (the server's shared
nonces, rate limits and login sessions), audit, ledger, entitlements, bulk, store and migrate."""
