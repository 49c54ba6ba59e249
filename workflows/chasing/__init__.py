"""Chasing: who must be asked for an update, by which step of the ladder, and when.

:mod:`.config` is ``config/chasing.yaml`` (the ladder, nudges, send window, sender, channels);
:mod:`.state` loads the snapshot of plan and people the rules work on; :mod:`.rules` decides, for
any ``now``, which :class:`~workflows.chasing.chases.Chase` messages are due. The rules are pure:
rendering and sending them is for ``notifications`` and the composition root.
"""
