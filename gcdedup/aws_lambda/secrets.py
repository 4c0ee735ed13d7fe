"""The Genesys OAuth client from AWS Secrets Manager (a JSON object; docs/lambda/)."""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import ConfigError, MissingDependencyError

#: The fields a Genesys credentials secret may hold (see docs/lambda/configuration.md).
SECRET_FIELDS = ("client_id", "client_secret", "region")


def fetch_genesys_secret(secret_id: str, client: Any = None) -> dict[str, Any]:
    """Read the secret; return ``GenesysSettings.from_env`` overrides.

    ``client`` is a boto3 Secrets Manager client (the container's); one is made when
    it is None. The client secret is wrapped in :class:`~gcdedup.genesys.Secret` at
    once so it can never reach a log line.
    """
    from ..genesys.secret import Secret

    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - boto3 is in every Lambda Python runtime
        raise MissingDependencyError("boto3", "dynamodb") from None
    try:
        if client is None:
            import boto3

            client = boto3.client("secretsmanager")
        response = client.get_secret_value(SecretId=secret_id)
    except (BotoCoreError, ClientError) as exc:
        raise ConfigError(f"cannot read secret {secret_id!r}: {exc}") from None
    raw = response.get("SecretString")
    try:
        document = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise ConfigError(
            f"secret {secret_id!r} is not a JSON object (see docs/lambda/configuration.md)"
        )
    overrides: dict[str, Any] = {}
    for name in SECRET_FIELDS:
        value = document.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ConfigError(f"secret {secret_id!r}: {name!r} must be a string")
        overrides[name] = Secret(value) if name == "client_secret" else value
    for required in ("client_id", "client_secret"):
        if required not in overrides:
            raise ConfigError(f"secret {secret_id!r} has no {required!r}")
    return overrides


#: The Secrets Manager client's limits (one call per container).
SECRETS_CONNECT_TIMEOUT = 2.0
SECRETS_READ_TIMEOUT = 5.0


def client() -> Any:
    """A Secrets Manager client with short timeouts (None without boto3:
    :func:`fetch_genesys_secret` then names the missing dependency)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:  # pragma: no cover - boto3 is in every Lambda Python runtime
        return None
    config = Config(
        connect_timeout=SECRETS_CONNECT_TIMEOUT,
        read_timeout=SECRETS_READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    return boto3.client("secretsmanager", config=config)
