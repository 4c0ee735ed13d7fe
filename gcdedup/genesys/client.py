"""The Genesys Cloud API client gcdedup needs: authenticated, retried, bounded GETs.

Retries of 5xx/connection errors and 429 live in :mod:`gcdedup.genesys.transport`
(see its docstring for which mechanism handles what); this layer adds the token
and its one refresh on 401, and decodes the JSON.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson

from gcdedup.genesys.auth import BearerAuth, ClientCredentialsAuth
from gcdedup.genesys.settings import GenesysSettings
from gcdedup.genesys.transport import GenesysAPIError, Sleep, TimeLeft, Transport, no_deadline

logger = logging.getLogger(__name__)


class GenesysClient:
    """Thread-safe: share one client (one token, one connection pool) across workers."""

    def __init__(
        self,
        settings: GenesysSettings,
        *,
        sleep: Sleep = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        time_left: TimeLeft = no_deadline,
    ) -> None:
        """``time_left`` bounds every wait and timeout (seconds to the caller's deadline)."""
        self.settings = settings
        self.transport = Transport(
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_retries=settings.max_retries,
            max_rate_limit_wait=settings.max_rate_limit_wait,
            pool_size=settings.pool_size,
            sleep=sleep,
            time_left=time_left,
        )
        self.auth = ClientCredentialsAuth(
            self.transport,
            settings.token_url,
            settings.client_id,
            settings.client_secret,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"GenesysClient(api_url={self.settings.api_url!r})"

    def get(self, path: str) -> Any:
        """GET an API path (``/api/v2/...``) and return its JSON; raise GenesysAPIError.

        A 401 discards the token and retries once with a fresh one: a token can be
        revoked or expire early, but a second 401 means the client lacks access.
        """
        url = f"{self.settings.api_url}{path}"
        token = self.auth.token()
        response = self.transport.request("GET", url, auth=BearerAuth(token))
        if response.status_code == 401:
            logger.info("Genesys answered 401; refreshing the token once", extra={"path": path})
            response.close()
            self.auth.invalidate(token)
            token = self.auth.token()
            response = self.transport.request("GET", url, auth=BearerAuth(token))
            if response.status_code == 401:
                raise GenesysAPIError.from_response(
                    response, "GET", path, hint="still unauthorized with a freshly issued token"
                )
        if not 200 <= response.status_code < 300:
            hint = None
            if response.status_code == 403:
                hint = "the OAuth client's role lacks a permission this call needs"
            raise GenesysAPIError.from_response(response, "GET", path, hint=hint)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise GenesysAPIError(
                f"Genesys GET {path} failed: HTTP {response.status_code} with a non-JSON body",
                method="GET",
                path=path,
                status=response.status_code,
            ) from None

    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        """``GET /api/v2/conversations/{id}`` (permission ``conversation:communication:view``)."""
        if not isinstance(conversation_id, str) or not conversation_id.strip():
            raise GenesysAPIError(
                f"invalid conversation id {conversation_id!r}",
                method="GET",
                path="/api/v2/conversations/{conversationId}",
            )
        document = self.get(f"/api/v2/conversations/{quote(conversation_id, safe='')}")
        if not isinstance(document, dict):
            raise GenesysAPIError(
                f"Genesys GET conversation {conversation_id} returned JSON that is not an object",
                method="GET",
                path=f"/api/v2/conversations/{conversation_id}",
            )
        return document

    def close(self) -> None:
        """Close pooled connections."""
        self.transport.close()

    def __enter__(self) -> GenesysClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
