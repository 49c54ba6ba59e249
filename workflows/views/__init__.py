"""Read models: what the secretary's pages and the CLI show, read from the store.

The plan by area with its filters (:mod:`.plan_status`), one action with its whole history
(:mod:`.action_history`), where the chase for each meeting stands (:mod:`.meeting_status`) and
the plain listing ``chaser plan list`` prints (:mod:`.plan_list`). Queries only: nothing here
changes the store.
"""
