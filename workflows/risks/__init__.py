"""The risk register: each plan's risks scored likelihood × impact on the 5×5 scale, reviewed by
their owners, every change kept (``risk_change``).

:mod:`.scoring` is pure (ratings checked, score, bands, new / escalated / overdue for review /
closed); :mod:`.mapping` and :mod:`.reading` read a council's register workbook; :mod:`.store`
merges it, applies reviews and lists the register; :mod:`.email` finds reviews written in an
emailed reply ("Risk R3: likelihood now 4, mitigation: …"). No files, no clock.
"""
