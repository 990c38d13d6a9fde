"""Saved conversations: the SQLite store, its schema and migrations, records and exports.

Must not import httpx, rich, typer or prompt_toolkit, nor `api`, `chat` or anything above.
"""
