"""The one error the board's records raise for bad input."""

from __future__ import annotations


class BoardInputError(ValueError):
    """Bad input for a board record: the message names the field, the value, what was expected
    and the fix. ``field`` is the form field or CSV column concerned."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
