"""The ``chaser`` verbs, one small module each, imported only when their verb runs.

:mod:`chaser.cli` lists them; each module reads the settings the root command loaded
(``click`` context object), builds what it needs from :mod:`chaser.wiring`, and prints.
:mod:`.common` holds what they share: failing with a clear line, opening the store, the clock.
"""
