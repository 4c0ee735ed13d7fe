"""One frozen Settings for the CLI and Lambda: explicit values > GCDEDUP_* variables > defaults."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from functools import partial
from typing import Any

from .errors import ConfigError
from .keys import DEFAULT_NAMESPACE, DEFAULT_STRATEGY, get_strategy, validate_namespace

#: EventBridge retries for 24 h and Genesys re-queues for up to four days: keep keys five.
DEFAULT_TTL_SECONDS = 5 * 86400
#: How long a claim blocks other workers if its holder dies without releasing it.
DEFAULT_LEASE_SECONDS = 300.0
#: Events per store batch while handlers run: claims are held while they run.
DEFAULT_BATCH_SIZE = 500
#: ... and when none runs (count only, seed): nothing is held, and on SQLite a
#: larger transaction writes each B-tree page it touches to the WAL fewer times.
MARK_DONE_BATCH_SIZE = 5000
DEFAULT_CONCURRENCY = 8

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(text: str | float | int, what: str = "duration") -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``4d``, ``1w`` -> seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ConfigError(
                f"invalid {what} {text!r}: use a number of seconds or e.g. 90s, 15m, 2h, 4d"
            )
        value = float(match.group(1)) * _UNITS[match.group(2)]
    if value <= 0:
        raise ConfigError(f"invalid {what} {text!r}: must be greater than zero")
    return value


def new_run_id() -> str:
    """Sortable and unique: ``20261127T005040Z-1a2b3c``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


#: Settings field -> the environment variable that sets it.
ENV_VARS = {
    "store_url": "GCDEDUP_STORE",
    "namespace": "GCDEDUP_NAMESPACE",
    "key_strategy": "GCDEDUP_KEY_STRATEGY",
    "ttl_seconds": "GCDEDUP_TTL",
    "lease_seconds": "GCDEDUP_LEASE",
    "batch_size": "GCDEDUP_BATCH_SIZE",
    "concurrency": "GCDEDUP_CONCURRENCY",
    "run_id": "GCDEDUP_RUN_ID",
    "on_conflict": "GCDEDUP_ON_CONFLICT",
    "on_unkeyable": "GCDEDUP_ON_UNKEYABLE",
    "count_duplicates": "GCDEDUP_COUNT_DUPLICATES",
    "save_result": "GCDEDUP_SAVE_RESULT",
    "cache_size": "GCDEDUP_CACHE_SIZE",
    "read_ahead": "GCDEDUP_READ_AHEAD",
}

#: --on-conflict: a same-key delivery of another payload is skipped (and reported),
#: processed again (its claim takes the record over), or failed (the record is left).
ON_CONFLICT = ("skip", "process", "fail")
#: --on-unkeyable: an event the key strategy cannot key is a bad record, or is
#: handled without deduplication.
ON_UNKEYABLE = ("fail", "process")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know; build it with :meth:`resolve`."""

    store_url: str
    namespace: str = DEFAULT_NAMESPACE
    key_strategy: str = DEFAULT_STRATEGY
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    #: None: DEFAULT_BATCH_SIZE when a handler runs, MARK_DONE_BATCH_SIZE otherwise.
    batch_size: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    run_id: str = ""
    on_conflict: str = "skip"
    on_unkeyable: str = "fail"
    #: Per-key duplicate counters (one more write per duplicate on DynamoDB).
    count_duplicates: bool = True
    #: Save each handler's JSON return value with its record (returned for duplicates).
    save_result: bool = False
    #: Keys of completed records remembered in this process (0: no cache).
    cache_size: int = 0
    #: The CLI reads and keys local files in a second process when no handler runs.
    read_ahead: bool = True

    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None, **explicit: Any) -> Settings:
        """Explicit (non-None) values win, then the environment, then defaults; all validated."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        from_env: dict[str, str] = {}  # field -> the variable it was read from
        for f in fields(cls):
            given = explicit.get(f.name)
            if given is None:
                given = env.get(ENV_VARS[f.name]) or None
                if given is not None:
                    from_env[f.name] = ENV_VARS[f.name]
            if given is not None:
                values[f.name] = given

        def check(name: str, validate: Callable[[Any], Any]) -> Any:
            """``validate(value)``; an error names the variable the value came from."""
            try:
                return validate(values[name])
            except ConfigError as exc:
                if name not in from_env:
                    raise
                # a URL's query may hold credentials: never shown
                shown = str(values[name]).split("?", 1)[0]
                message = exc.message.replace(str(values[name]), shown)
                raise ConfigError(f"{from_env[name]}={shown!r}: {message}") from None

        if "store_url" not in values:
            from .store import default_store_url

            values["store_url"] = default_store_url()
        if "ttl_seconds" in values:
            values["ttl_seconds"] = check("ttl_seconds", lambda v: int(parse_duration(v, "TTL")))
        if "lease_seconds" in values:
            values["lease_seconds"] = check("lease_seconds", lambda v: parse_duration(v, "lease"))
        for name in ("batch_size", "concurrency"):
            if name in values:
                values[name] = check(name, partial(_positive_int, what=name.replace("_", " ")))
        if "namespace" in values:
            check("namespace", validate_namespace)
        if "key_strategy" in values:
            check("key_strategy", get_strategy)
        for name, choices in (("on_conflict", ON_CONFLICT), ("on_unkeyable", ON_UNKEYABLE)):
            if name in values:
                what = name.replace("_", "-")
                values[name] = check(name, partial(_choice, choices=choices, what=what))
        for name in ("count_duplicates", "save_result", "read_ahead"):
            if name in values:
                values[name] = check(name, partial(_bool, what=name.replace("_", "-")))
        if "cache_size" in values:
            values["cache_size"] = check(
                "cache_size", partial(_positive_int, what="cache size", minimum=0)
            )
        values["run_id"] = values.get("run_id") or new_run_id()
        settings = cls(**values)
        validate_namespace(settings.namespace)
        get_strategy(settings.key_strategy)
        return settings


#: The schemes :func:`gcdedup.store.open_store` knows.
STORE_SCHEMES = ("sqlite", "dynamodb", "memory")


def check_store_url(url: str, variable: str | None = None) -> None:
    """An unknown scheme is a ConfigError naming ``variable`` (the URL came from it)
    before anything runs; :func:`gcdedup.store.open_store` checks again (it cannot
    name the variable)."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in STORE_SCHEMES:
        shown = url.split("?", 1)[0]  # a query may hold credentials
        prefix = f"{variable}={shown!r}: " if variable else ""
        raise ConfigError(
            f"{prefix}unsupported store URL {shown!r}: use sqlite:///path/to/file, "
            "dynamodb://TableName or memory://"
        )


def _positive_int(value: Any, what: str, minimum: int = 1) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"invalid {what} {value!r}: expected a whole number") from None
    if number < minimum:
        raise ConfigError(f"invalid {what} {value!r}: must be at least {minimum}")
    return number


def _choice(value: Any, choices: tuple[str, ...], what: str) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise ConfigError(f"invalid {what} {value!r}: use {', '.join(choices)}")
    return text


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"invalid {what} {value!r}: use true or false")
