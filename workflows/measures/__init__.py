"""Impact measures: a plan's scorecard, its readings, and how each measure is doing.

:mod:`.scoring` is pure (RAG against the trajectory, direction of travel, slippage flags, the
period a figure is due for); :mod:`.table` reads a header-mapped table out of a grid (shared with
the risk register); :mod:`.mapping` and :mod:`.reading` read a council's scorecard workbook;
:mod:`.store` merges it into the store and records readings, checked; :mod:`.email` finds
figures written in an emailed reply ("EHCP 20-week timeliness: 61%"). No files, no clock.
"""
