"""The pages served by `sscard serve` (docs/pages.md): static files in static/, their endpoints in router.py."""
