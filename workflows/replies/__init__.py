"""Replies: what leads say back, whether to trust it, and the one way an update is applied.

A reply arrives by email (:mod:`.parsing` reads it, :mod:`.trust` judges it, :mod:`.intake` keeps
it) or by the reply form (:mod:`.form` reads one post, :mod:`.requests` finds the request its
signed link (:mod:`.links`) names). Either way it is kept as a ``Reply`` and applied through
:func:`~workflows.replies.apply.apply_reply`, so the history says who, when and how. What cannot
be trusted waits in the review queue (:mod:`.review`) for the secretary.
"""
