"""Pausing Python's cycle collector while a bulk job builds many objects that all stay alive.

An import (hundreds of thousands of cells, rows and parameters) and each slice of a plan's flag
refresh (2,000 actions and their history, as ORM objects) make objects that live until the job
ends: the collector, woken by every 700 new objects, walks them all again and again as they pile
up. That took a quarter of a 20,000-action import and half of a plan's flag refresh. Little of
what such a job makes is garbage before it ends, and whatever is left is collected as usual
afterwards.

The collector is one per process, and the service runs its pages and its tick in threads: the
pause is counted, so the collector comes back on when the last job holding it ends (even when
one fails), and never comes on if something else had it off before.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cycle collector off for the length of the block (see the module's docstring)."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
