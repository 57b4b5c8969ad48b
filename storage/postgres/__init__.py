"""The PostgreSQL store: every host on one database (``[storage] roomcal_database``)."""
