"""Reading a council's improvement plan as a person would, and keeping it in the store.

A mapping (:mod:`.mapping`) says how one council lays out its workbook; :mod:`.reading` turns a
:class:`~workflows.plan.sheet.Grid` into areas, actions and milestones through it, reading dates
as councils write them (:mod:`.dates`) and leads as role titles with initials (:mod:`.leads`)
against the people directory (:mod:`.people`); :mod:`.merge` folds a first import or a re-import
into the store without losing history. Pure but for the store: no files, no clock.
"""
