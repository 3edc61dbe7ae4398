"""What visitors did, the write side: who they are (a first-party cookie), what they read, searched,
were suggested, opened and voted on, and the contact form they opened. Every record goes through one
write path (``kb.tracking.store``) so a failing database never breaks the page a visitor asked for."""
