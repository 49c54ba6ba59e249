"""Templates compiled once per process, whichever environment loads them.

Each :class:`~chaser.wiring.Runtime` and each web app builds its own Jinja2 environments, and an
environment compiles every template it loads: a process that builds several (the test suite
builds hundreds, ``chaser run`` one per reload) compiled the same templates again each time.
:func:`shared_bytecode` gives environments configured alike one in-memory bytecode cache. Jinja2
keys each entry by the template's name and file, and checks it against the checksum of the
source it has just read, so an edited or overriding template is compiled afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from jinja2 import BytecodeCache
from jinja2.bccache import Bucket

#: Compiled templates, by the environments' settings and then by Jinja2's bucket key.
_STORE: dict[Hashable, dict[str, bytes]] = {}
_LOCK = threading.Lock()


class _SharedBytecode(BytecodeCache):
    def __init__(self, settings: Hashable) -> None:
        with _LOCK:
            self.entries = _STORE.setdefault(settings, {})

    def load_bytecode(self, bucket: Bucket) -> None:
        data = self.entries.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)  # discarded by Jinja2 if the source changed

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.entries[bucket.key] = bucket.bytecode_to_string()


def shared_bytecode(settings: Hashable) -> BytecodeCache:
    """The process's bytecode cache for environments with these ``settings``.

    ``settings`` must hold every option that changes the code Jinja2 compiles (autoescape,
    trim_blocks, lstrip_blocks, keep_trailing_newline, the loader's search path): environments
    that differ in any of them must not share compiled code."""
    return _SharedBytecode(settings)
