"""roomcal's Radicale plugins: ``[auth] type = roomcal.plugins.auth``, ``[rights] type = roomcal.plugins.rights``."""
