"""Storage: engines, the unit of work, tables' shared metadata and migrations."""
