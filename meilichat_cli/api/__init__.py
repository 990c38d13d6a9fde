"""Talking to a Meilisearch server over HTTP: the streaming chat client, proxies, admin routes.

Imports httpx (inside functions where start-up matters). Must not print, prompt or exit, and
must not import rich, typer, prompt_toolkit or any package above it (history, chat, ui, cli).
"""
