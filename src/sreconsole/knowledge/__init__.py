"""Chunking, embeddings, the DuckDB store and hybrid search. No Textual here."""
