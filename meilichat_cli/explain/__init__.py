"""Why this answer: the retrieval trace of a turn, its searches replayed with ranking scores,
the documents themselves, and what the turn cost.

`trace` formats a turn's timings and searches, `replay` runs the searches again against
`/indexes/{uid}/search` and compares, `documents` fetches and renders one source, `view` turns
replays into lines for people. Used by `meilichat explain`, `meilichat source`, `history show
--trace` and the REPL's /trace, /why and /open.

Sits above `ui` and below the features (REPL, batch, doctor): may import ui, chat, history,
api, local, protocol, text and errors; never typer or prompt_toolkit.
"""
