"""Chaser's composition root: settings, logging and the ``chaser`` command.

The domain lives in :mod:`workflows`, adapters in :mod:`integrations` and :mod:`notifications`.
Only this package wires them together.
"""

__version__ = "0.1.0"
