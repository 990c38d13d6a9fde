"""Terminal output shared by features: the streaming markdown renderer, sources, output modes
(terminal, plain, JSON, events), the one JSON writer, admin views, the editor and clipboard.

No HTTP: must not import httpx, `api`, `repl`, `batch`, `doctor` or `cli`.
"""
