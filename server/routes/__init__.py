"""/api route areas; see server/api.py."""
