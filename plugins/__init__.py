"""roomcal's Radicale plugins: ``[auth] type = plugins.auth``, ``[rights] type = plugins.rights``."""
