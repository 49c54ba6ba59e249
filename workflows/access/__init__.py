"""Who may use the secretary's pages, and how they proved it.

Users and their roles on each plan (:mod:`.users`: admin, secretary or viewer, per plan or for
all plans), signed-in browsers (:mod:`.sessions`: random tokens kept only as hashes, idle and
absolute expiry, a CSRF secret each), one-time sign-in links (:mod:`.links`: single use,
15 minutes, bound to the browser that asked), and the audit log of every sign-in, refusal and
change to a user, which also limits how often sign-in may be tried (:mod:`.audit`). Time is
always passed in.
"""
