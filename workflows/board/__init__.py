"""The board's own loop (issue 17): baselines the board agrees again
(:mod:`workflows.board.baselines`), milestones marked done (:mod:`workflows.board.milestones`).
Pure domain: the caller passes the session, the time and who did it; nothing here commits."""
