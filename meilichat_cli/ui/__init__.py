"""Terminal output shared by features: the streaming markdown renderer, sources, output modes
(terminal, plain, JSON, events), admin views, the editor and clipboard.

No HTTP: must not import httpx, `api`, `repl`, `batch`, `doctor` or `cli`.
"""
