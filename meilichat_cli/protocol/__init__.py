"""The wire protocol of Meilisearch chat: SSE framing, typed events, the conversation model,
the sanitizer for untrusted text and document templates.

Standard library only and no I/O; nothing here may import httpx, rich, typer or prompt_toolkit,
or any meilichat module other than `errors` and this package.
"""
