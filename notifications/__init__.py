"""What Chaser says (Jinja2 templates) and how it is delivered (the outbox and its channels)."""
