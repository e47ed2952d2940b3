"""holder_db's own errors, apart from the modules that raise them so none has to import another for them."""
from __future__ import annotations


class StoreError(RuntimeError):
    """The database could not be opened or is not initialised."""
