"""The governance calendar: groups, their meeting cycles, and UK working days.

:mod:`.cycles` is the schema and validator of ``config/cycles.yaml`` (and the home of the
calendar's timezone, :data:`~workflows.calendar.cycles.LONDON`); :mod:`.meetings` turns it and a
date range into meetings with papers deadlines and reporting scopes; :mod:`.working_days` knows
England and Wales bank holidays offline. Pure: nothing here reads the clock or a file it was not
handed.
"""
