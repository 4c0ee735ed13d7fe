"""Genesys Cloud client settings: CLI flags > environment > defaults.

The variable names for credentials and region are the ones Genesys' own CLI and
Terraform provider read, so an environment already set up for them works as is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from gcdedup.errors import ConfigError
from gcdedup.genesys.regions import resolve_region
from gcdedup.genesys.secret import Secret
from gcdedup.settings import env_name

logger = logging.getLogger(__name__)

ENV_CLIENT_ID = "GENESYSCLOUD_OAUTHCLIENT_ID"
ENV_CLIENT_SECRET = "GENESYSCLOUD_OAUTHCLIENT_SECRET"
ENV_REGION = "GENESYSCLOUD_REGION"
ENV_API_URL = "GENESYSCLOUD_API_URL"
ENV_LOGIN_URL = "GENESYSCLOUD_LOGIN_URL"

#: Tuning knobs: field name -> (environment variable, parser).
#: The variables are declared in gcdedup.settings.SCHEMA as ``genesys_<field>``.
_LIMIT_VARIABLES: dict[str, tuple[str, Callable[[str], float | int]]] = {
    name: (env_name(f"genesys_{name}"), parse)
    for name, parse in (
        ("connect_timeout", float),
        ("read_timeout", float),
        ("max_retries", int),
        ("max_rate_limit_wait", float),
        ("pool_size", int),
    )
}

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class GenesysSettings:
    """Everything needed to talk to one Genesys Cloud org; the secret is a :class:`Secret`."""

    client_id: str
    client_secret: Secret
    api_url: str
    login_url: str
    region: str | None = None
    #: Seconds to establish a TCP/TLS connection.
    connect_timeout: float = 5.0
    #: Seconds to wait for response bytes; a conversation GET is normally well under 1 s.
    read_timeout: float = 30.0
    #: Retries (after the first attempt) of a GET on 5xx, connection and read errors.
    max_retries: int = 3
    #: Total seconds one call may sleep on 429 responses before it fails.
    max_rate_limit_wait: float = 60.0
    #: Kept-alive connections per host: set it to the number of concurrent workers.
    pool_size: int = 10

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ConfigError(f"{ENV_CLIENT_ID} is empty")
        if not isinstance(self.client_secret, Secret):
            raise ConfigError("client_secret must be a Secret (never a plain string)")
        if not self.client_secret:
            raise ConfigError(f"{ENV_CLIENT_SECRET} is empty")
        for name in ("connect_timeout", "read_timeout", "max_rate_limit_wait"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"Genesys {name} must be positive, got {getattr(self, name)}")
        if self.max_retries < 0:
            raise ConfigError(f"Genesys max_retries must be 0 or more, got {self.max_retries}")
        if self.pool_size < 1:
            raise ConfigError(f"Genesys pool_size must be at least 1, got {self.pool_size}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> GenesysSettings:
        """Read ``GENESYSCLOUD_*`` (and the Genesys limits of the settings schema) from ``env``.

        ``overrides`` are field names (``client_id``, ``client_secret``, ``region``,
        ``api_url``, ``login_url``, ``connect_timeout``, ...) as the CLI passes its
        flags; a value of None means "flag not given" and leaves the environment's.
        ``GENESYSCLOUD_API_URL`` / ``GENESYSCLOUD_LOGIN_URL`` replace the URLs derived
        from the region (a proxy, a local test server); with both set, no region is needed.
        """
        env = os.environ if env is None else env
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown GenesysSettings field(s): {', '.join(unknown)}")
        given = {name: value for name, value in overrides.items() if value is not None}

        client_id = given.get("client_id") or _env(env, ENV_CLIENT_ID)
        if not client_id:
            raise ConfigError(f"{ENV_CLIENT_ID} is not set (the OAuth client id)")
        secret = given.get("client_secret") or _env(env, ENV_CLIENT_SECRET)
        if not secret:
            raise ConfigError(f"{ENV_CLIENT_SECRET} is not set (the OAuth client secret)")
        if not isinstance(secret, Secret):
            secret = Secret(str(secret))

        api_url = given.get("api_url") or _env(env, ENV_API_URL)
        login_url = given.get("login_url") or _env(env, ENV_LOGIN_URL)
        region_name = given.get("region") or _env(env, ENV_REGION)
        domain: str | None = None
        if region_name:
            region = resolve_region(region_name)
            domain = region.domain
            api_url = api_url or region.api_url
            login_url = login_url or region.login_url
        elif not (api_url and login_url):
            raise ConfigError(
                f"{ENV_REGION} is not set (a Genesys Cloud region such as mypurecloud.com "
                "or us-east-1)"
            )
        assert api_url and login_url  # narrowed above: both set, or derived from the region

        limits: dict[str, Any] = {}
        for name, (variable, parse) in _LIMIT_VARIABLES.items():
            if name in given:
                limits[name] = given[name]
            elif raw := _env(env, variable):
                try:
                    limits[name] = parse(raw)
                except ValueError:
                    raise ConfigError(
                        f"{variable}={raw!r} is not a valid {parse.__name__}"
                    ) from None

        return cls(
            client_id=str(client_id),
            client_secret=secret,
            api_url=_base_url(api_url, ENV_API_URL),
            login_url=_base_url(login_url, ENV_LOGIN_URL),
            region=domain,
            **limits,
        )

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/oauth/token"

    def to_dict(self) -> dict[str, Any]:
        """For ``--json`` and diagnostics: every field, the secret as ``***``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["client_secret"] = str(self.client_secret)
        return out


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _base_url(value: str, variable: str) -> str:
    """Validate a base URL (scheme and host, no query) and drop a trailing slash."""
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{variable}={value!r} is not an http(s) URL with a host")
    if parts.query or parts.fragment:
        raise ConfigError(f"{variable}={value!r} must not have a query or fragment")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        logger.warning(
            "plain-http Genesys URL: credentials and tokens travel unencrypted",
            extra={"variable": variable, "url": url},
        )
    return url
