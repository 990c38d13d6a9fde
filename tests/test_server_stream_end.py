"""The stand-in server records when a stream ended (the benchmark's display-lag reference)."""

from __future__ import annotations

import time

from standin_http import Client, ask_body

from meilichat_cli.standin import StandInServer

MASTER = "stream-end-master-key-0123456789"
PATH = "/chats/demo/chat/completions"


def test_last_stream_end_is_when_the_last_event_was_sent() -> None:
    with StandInServer(master_key=MASTER) as server:
        assert server.stats.last_stream_end is None
        client = Client(server.url, server.chat_key)
        try:
            before = time.monotonic()
            reply = client.call("POST", PATH, ask_body(model="scenario:drip?interval=0.02"))
            after = time.monotonic()
        finally:
            client.close()
        assert reply.events()[-1] == "[DONE]"
        end = server.stats.last_stream_end
        assert end is not None
        # Not when the request arrived: after the dripped answer (several 20 ms pauses).
        assert before + 0.05 < end <= after
