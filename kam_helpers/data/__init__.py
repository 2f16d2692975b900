"""The data layer: the schema, reading exports, mapping and validating them, the DuckDB workspace store and the shared SQL rules."""
