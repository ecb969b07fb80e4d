"""The lake (issue 16): its tables and columns (schema), and DuckDB over it on a laptop (duck)."""
