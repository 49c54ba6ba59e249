"""Chaser's domain: the plan, the store, the calendar and the rules.

Everything here is a function of (store state, config, ``now``). Nothing here imports an adapter
(mail, Teams, web, spreadsheets) or reads the wall clock.
"""
