"""Tickets: a question stored with what the visitor did before asking, the messages composed for it,
the outbox that sends them after the commit, and the senders (SMTP, signed webhook)."""
