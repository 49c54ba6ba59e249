"""Slippage and the secretary's digest before each meeting.

:mod:`.slippage` holds the rules that say, in plain words, why an action is slow; :mod:`.build`
reads the store into a snapshot and assembles the :class:`~workflows.digest.contents.Digest`
(exceptions, the action and impact log, who is silent) for one meeting; :mod:`.config` is
``config/digest.yaml``, which says which meetings get one and when it is due. Rendering it is
``notifications``' job.
"""
