"""roomcal's WSGI layer: the front (auth, JSON, /api) in front of Radicale, and the CLI."""
