"""The Genesys page's example run, against the local Genesys Cloud server.

docs/genesys.md shows ``process --genesys`` on the clean samples and the first lines of
its ``--out`` file; both are marked ``<!-- example: genesys server -->``.
"""

from __future__ import annotations

import re

import pytest
from doc_examples import DOCS, all_examples, matches, run, scratch
from genesys_server import *  # noqa: F403
from genesys_server import GenesysTestServer

PAGE = DOCS / "genesys.md"
JSON_BLOCK = re.compile(r"<!-- example: genesys server -->\n```json\n(.*?)```", re.S)


def test_the_genesys_example_run_prints_and_writes_what_the_page_shows(
    genesys_server: GenesysTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = all_examples(needs="genesys server")
    assert [ex.page for ex in found] == [PAGE]
    (lines,) = JSON_BLOCK.findall(PAGE.read_text())
    monkeypatch.setenv("GENESYSCLOUD_OAUTHCLIENT_ID", genesys_server.client_id)
    monkeypatch.setenv("GENESYSCLOUD_OAUTHCLIENT_SECRET", genesys_server.client_secret)
    monkeypatch.setenv("GENESYSCLOUD_API_URL", genesys_server.url)
    monkeypatch.setenv("GENESYSCLOUD_LOGIN_URL", genesys_server.url)
    monkeypatch.delenv("GENESYSCLOUD_REGION", raising=False)
    with scratch() as tmp:
        for example in found:
            code, output = run(example.command)
            assert code == 0, output
            assert matches(example.expected, output), (
                f"$ {example.command}\n--- page\n{example.expected}\n--- actual\n{output}"
            )
        written = (tmp / "results.jsonl").read_text().splitlines()
    assert "\n".join(written[:2]) + "\n" == lines
    # what the page says the server saw: one token, one GET per distinct conversation event
    assert genesys_server.token_requests == 1
    assert sum(genesys_server.conversation_calls.values()) == 12
