"""The wire protocol of Meilisearch chat: SSE framing, typed events, the conversation model.

Standard library only and no I/O. Must not import httpx, rich, typer or prompt_toolkit, nor any
meilichat package but `errors` and `text`.
"""
