"""Mail arriving over SMTP: the listener that takes in emailed replies, and the demo's sink.

:mod:`.inbound_smtp` runs an aiosmtpd server that hands each message to reply intake;
:mod:`.capture` is the demo's mail sink, keeping what Chaser sends for ``/outbox`` to show.
"""
