"""Portfolio reports: the book's figures at a date, composed from each capability's published
report reads (`*/portfolio_views.py`) into set-based queries on the store or on DuckDB."""
