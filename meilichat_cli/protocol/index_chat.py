"""The names in an index's `chat` setting, in the order Meilisearch shows them.

Read by the client (`api.admin`, to send and predict settings), the replay (`explain`, to
search as the chat did) and the stand-in server (to validate and show them), so the three
agree on one list. Names only; imports nothing.
"""

from __future__ import annotations

# The fields of `/indexes/{uid}/settings/chat`.
CHAT_SETTINGS_FIELDS = (
    "description",
    "documentTemplate",
    "documentTemplateMaxBytes",
    "searchParameters",
)
# The subfields of its `searchParameters`.
CHAT_SEARCH_PARAMETERS = (
    "hybrid",
    "limit",
    "sort",
    "distinct",
    "matchingStrategy",
    "attributesToSearchOn",
    "rankingScoreThreshold",
)
