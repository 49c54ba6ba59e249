"""Microsoft 365 through Graph: one client (:mod:`.client`), and the inbox replies arrive in.

:class:`~integrations.graph.client.GraphClient` holds the msal token and the HTTP session; the
mail channel (:mod:`integrations.channels.graph_mail`) sends through it and
:class:`~integrations.graph.inbox.GraphInbox` reads the shared mailbox through the same one.
"""
