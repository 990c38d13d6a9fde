"""`--unset NAME` of `workspace set` and `index chat-settings`: one spelling rule for both.

NAME may be spelled as the option or as Meilisearch's API names the field; the body sent
resets exactly that field (null), and an unknown NAME is refused before anything is sent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import MASTER_KEY
from inprocess import invoke

from meilichat_cli.cli.admin_options import apply_unset, unset_setting
from meilichat_cli.cli.commands.index import UNSETTABLE as INDEX
from meilichat_cli.cli.commands.workspace import UNSETTABLE as WORKSPACE
from meilichat_cli.errors import UsageError


@pytest.mark.parametrize(
    ("raw", "table", "name"),
    [
        ("max-bytes", INDEX, "max-bytes"),
        ("--Max_Bytes", INDEX, "max-bytes"),
        ("documentTemplate", INDEX, "template"),
        ("documentTemplateMaxBytes", INDEX, "max-bytes"),
        ("searchParameters", INDEX, "search-parameters"),
        ("searchParameters.limit", INDEX, "limit"),
        ("matchingStrategy", INDEX, "matching-strategy"),
        ("attributesToSearchOn", INDEX, "search-on"),
        ("RANKINGSCORETHRESHOLD", INDEX, "ranking-score-threshold"),
        ("baseUrl", WORKSPACE, "base-url"),
        ("baseURL", WORKSPACE, "base-url"),
        ("apiKey", WORKSPACE, "provider-key"),
        ("orgId", WORKSPACE, "org-id"),
        ("prompts.system", WORKSPACE, "system-prompt"),
        ("system", WORKSPACE, "system-prompt"),
        ("searchQParam", WORKSPACE, "search-q-param"),
        ("prompts", WORKSPACE, "prompts"),
    ],
)
def test_unset_names_a_setting_as_the_option_or_the_api_spells_it(
    raw: str, table: dict[str, tuple[str, ...]], name: str
) -> None:
    assert unset_setting(raw, table) == name


@pytest.mark.parametrize(("raw", "table"), [("apiKey", INDEX), ("templat", INDEX), ("", WORKSPACE)])
def test_unset_refuses_a_name_of_no_setting(raw: str, table: dict[str, tuple[str, ...]]) -> None:
    assert unset_setting(raw, table) is None
    with pytest.raises(UsageError, match="unknown setting"):
        apply_unset({}, [raw], table)


def test_index_unset_in_the_api_spelling_resets_that_field(server_env: dict[str, str]) -> None:
    admin = {**server_env, "MEILI_MASTER_KEY": MASTER_KEY}
    result = invoke(
        [
            "index",
            "chat-settings",
            "movies",
            "--unset",
            "documentTemplate",
            "--unset",
            "searchParameters.matchingStrategy",
            "--dry-run",
            "--json",
        ],
        env=admin,
    )
    assert result.exit_code == 0, result.stderr
    sent: dict[str, Any] = json.loads(result.stdout)["wouldSend"]
    assert sent["documentTemplate"] is None
    assert sent["searchParameters"]["matchingStrategy"] is None
