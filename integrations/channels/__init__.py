"""The ways Chaser delivers a message: each a small class behind one protocol.

A channel only sends (:class:`notifications.channel.Channel`: ``send``, ``find_sent``,
``close``); a pure function beside it builds the payload, and the outbox owns retries, pacing
and recording. :mod:`.registry` maps each channel's name to its class and builds the ones the
settings configure: SMTP (:mod:`.smtp`), Microsoft Graph mail (:mod:`.graph_mail`), a Teams
Workflows webhook (:mod:`.teams`) and files for development (:mod:`.files`). A new channel is
one module here and one line in the registry.
"""
