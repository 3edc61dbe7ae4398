"""Many languages: the visitor's locale and its direction, UI strings through Flask-Babel, and the
translation catalogues compiled at build time."""
