"""The Genesys handler the pipeline runs for each claimed (new) event.

For conversation detail events it fetches the conversation, so downstream code
gets the whole conversation once per business event; other topics need no call.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from gcdedup.errors import GenesysError
from gcdedup.events import Event, Location
from gcdedup.genesys.client import GenesysClient
from gcdedup.genesys.settings import GenesysSettings
from gcdedup.genesys.transport import Sleep, TimeLeft, no_deadline

logger = logging.getLogger(__name__)

CONVERSATION_TOPIC_PREFIX = "v2.detail.events.conversation."

_HANDLER_LOCATION = Location("genesys-handler")


class ConversationHandler:
    """``handler(envelope) -> {"conversation": ...} | None``; raises GenesysError on failure.

    Raising lets the pipeline release the event's claim, so a retry fetches again
    instead of the event being recorded as done.
    """

    def __init__(self, client: GenesysClient) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"ConversationHandler({self.client!r})"

    def __call__(self, envelope: dict[str, Any] | Event) -> dict[str, Any] | None:
        event = envelope if isinstance(envelope, Event) else _as_event(envelope)
        if event is None or not event.topic.startswith(CONVERSATION_TOPIC_PREFIX):
            return None
        body = event.event_body or {}
        conversation_id = body.get("conversationId")
        if not isinstance(conversation_id, str) or not conversation_id:
            raise GenesysError(
                f"conversation event {event.id or '?'} ({event.topic}) has no "
                "detail.eventBody.conversationId"
            )
        conversation = self.client.get_conversation(conversation_id)
        logger.debug(
            "fetched conversation",
            extra={"conversation_id": conversation_id, "topic": event.topic, "event_id": event.id},
        )
        return {"conversation": conversation}

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ConversationHandler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_genesys_handler(
    settings: GenesysSettings, *, sleep: Sleep = time.sleep, time_left: TimeLeft = no_deadline
) -> ConversationHandler:
    """The handler ``process --genesys`` and the Lambda use; call ``close()`` when done.

    No network I/O happens here: the token is fetched by the first conversation event
    and shared by every later one. ``time_left`` bounds every wait (the Lambda passes
    what is left of the current invocation).
    """
    return ConversationHandler(GenesysClient(settings, sleep=sleep, time_left=time_left))


def _as_event(envelope: Any) -> Event | None:
    if not isinstance(envelope, dict) or not isinstance(envelope.get("detail"), dict):
        return None
    return Event(envelope, _HANDLER_LOCATION)
