"""Adapters to the outside world: spreadsheets, Microsoft 365, SMTP/IMAP and the web."""
