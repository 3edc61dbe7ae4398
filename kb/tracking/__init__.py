"""What visitors did, the write side: who they are (``visitor``, a first-party cookie), the articles they
read (``article_views``), what they searched and opened from the results (``search_log``), the answers they
opened in the contact form (``answers``), their Yes/No and its reason (``votes``), and the contact form
they opened (``contact_opened``). Every record goes through one write path (``store``), so a failing
database never breaks the page a visitor asked for."""
