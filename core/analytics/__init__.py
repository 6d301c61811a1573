"""Analytics: the dashboard's DuckDB, fed from the SQL database, and the named queries it answers."""
