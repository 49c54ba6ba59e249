"""Microsoft 365 through Graph: one client (:mod:`.client`), the inbox replies arrive in, and
the shared mailbox's calendar (:mod:`.calendar`, the meetings' invitations as events).

:class:`~integrations.graph.client.GraphClient` holds the msal token and the HTTP session; the
mail channel (:mod:`integrations.channels.graph_mail`) sends through it (and makes meeting
events through :class:`~integrations.graph.calendar.GraphCalendar`), and
:class:`~integrations.graph.inbox.GraphInbox` reads the shared mailbox through the same one.
"""
