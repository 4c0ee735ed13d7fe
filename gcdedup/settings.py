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
#: ... and when none runs (count only, seed): each store's own
#: ``mark_done_batch_size`` (nothing is held; a test holds this text to the stores).
MARK_DONE_BATCH_SIZES = "20000 on SQLite and 5000 on DynamoDB"
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


#: The Lambda's default deadline margin; see :func:`deadline_margin_for`.
DEFAULT_MARGIN_SECONDS = 5.0

#: Help panels, in the order ``--help`` shows them.
PANELS = ("Input", "Handler", "Keys", "Store", "Cost", "Output", "Performance")


@dataclass(frozen=True)
class Setting:
    """One setting, declared once: the CLI's option, the environment variable, the
    Lambda's reading and the docs' reference all derive from this."""

    #: The :class:`Settings` field (or, with ``field=False``, the name used elsewhere).
    name: str
    env: str
    help: str
    #: How the default reads in ``--help`` and the docs.
    default: str
    panel: str
    #: Long flags, the first one the name shown; "" for a variable without a flag.
    flags: tuple[str, ...] = ()
    short: str | None = None
    metavar: str | None = None
    #: Whether the Lambda entry point (and the decorator) read the variable.
    lambda_reads: bool = True
    #: The Lambda's default where it differs from the CLI's (a Settings value).
    lambda_default: Any = None
    #: A :class:`Settings` field (False: read by another part, e.g. the Genesys client).
    field: bool = True


def _s(name: str, env: str, help: str, default: str, panel: str, *flags: str, **kw: Any) -> Setting:
    return Setting(name, "GCDEDUP_" + env, help, default, panel, flags, **kw)


#: Every GCDEDUP_* setting. Anything that reads one takes its name from here.
SCHEMA: tuple[Setting, ...] = (
    _s(
        "store_url",
        "STORE",
        "Dedup store: sqlite:///PATH, dynamodb://TABLE or memory://.",
        "a SQLite file in your state directory",
        "Store",
        "--store",
        metavar="URL",
    ),
    _s(
        "namespace",
        "NAMESPACE",
        "Key prefix that keeps test keys apart from production ones.",
        DEFAULT_NAMESPACE,
        "Keys",
        "--namespace",
        short="-n",
        metavar="NAME",
    ),
    _s(
        "key_strategy",
        "KEY_STRATEGY",
        "Key strategy: genesys, envelope, content, tutorial or jmespath:EXPR "
        "(gcdedup keys --list).",
        DEFAULT_STRATEGY,
        "Keys",
        "--key",
        short="-k",
        metavar="STRATEGY",
    ),
    _s(
        "ttl_seconds",
        "TTL",
        "How long a processed key is remembered, e.g. 24h, 5d.",
        "5d",
        "Store",
        "--ttl",
        metavar="DURATION",
    ),
    _s(
        "lease_seconds",
        "LEASE",
        "How long a claim blocks other workers if its holder dies.",
        "5m",
        "Store",
        "--lease",
        metavar="DURATION",
    ),
    _s(
        "batch_size",
        "BATCH_SIZE",
        "Events per store batch (one transaction on SQLite).",
        f"{DEFAULT_BATCH_SIZE} with a handler, else {MARK_DONE_BATCH_SIZES}",
        "Performance",
        "--batch-size",
        metavar="N",
    ),
    _s(
        "concurrency",
        "CONCURRENCY",
        "Handlers (and DynamoDB calls) run at once; --concurrency is the same option.",
        str(DEFAULT_CONCURRENCY),
        "Performance",
        "--jobs",
        "--concurrency",
        short="-j",
        metavar="N",
    ),
    _s(
        "run_id",
        "RUN_ID",
        "Label stored with every key of the run (purge --run-id).",
        "a new timestamped id",
        "Store",
        "--run-id",
        metavar="ID",
    ),
    _s(
        "on_conflict",
        "ON_CONFLICT",
        "Same key, another payload (a conflict): skip it, process it again, or fail it.",
        "skip",
        "Handler",
        "--on-conflict",
        metavar="skip|process|fail",
    ),
    _s(
        "on_unkeyable",
        "ON_UNKEYABLE",
        "An event the key strategy cannot key: a bad record, or handled without dedup.",
        "fail",
        "Keys",
        "--on-unkeyable",
        metavar="fail|process",
    ),
    _s(
        "count_duplicates",
        "COUNT_DUPLICATES",
        "Keep a duplicate counter per key (one more DynamoDB write per duplicate).",
        "on; off in Lambda",
        "Store",
        "--count-duplicates/--no-count-duplicates",
        lambda_default=False,
    ),
    _s(
        "save_result",
        "SAVE_RESULT",
        "Keep each handler's JSON result (up to 64 KiB) with its key, for duplicates.",
        "off",
        "Handler",
        "--save-result/--no-save-result",
    ),
    _s(
        "cache_size",
        "CACHE_SIZE",
        "Completed keys remembered in memory: repeats need no store call (0: none).",
        "0; 10000 in Lambda",
        "Store",
        "--cache-size",
        metavar="KEYS",
        lambda_default=10_000,
    ),
    _s(
        "read_ahead",
        "READ_AHEAD",
        "Read and key local files in a second process when no handler runs.",
        "on",
        "Performance",
        "--read-ahead/--no-read-ahead",
        lambda_reads=False,
    ),
    _s(
        "handler",
        "HANDLER",
        "Run MODULE:FUNCTION on each new event (raising fails it).",
        "count only",
        "Handler",
        "--handler",
        metavar="MODULE:FUNCTION",
    ),
    _s(
        "genesys",
        "GENESYS",
        "Fetch each new conversation event's conversation from the Genesys Cloud API.",
        "off",
        "Handler",
        "--genesys",
    ),
    _s(
        "genesys_secret_id",
        "GENESYS_SECRET_ID",
        "Secrets Manager secret holding the Genesys client id and secret (Lambda).",
        "none",
        "Handler",
    ),
    _s(
        "deadline_margin",
        "DEADLINE_MARGIN",
        "Time kept free before the invocation's deadline (shrunk to fit short functions).",
        f"{DEFAULT_MARGIN_SECONDS:g}s",
        "Handler",
    ),
    _s(
        "engine",
        "ENGINE",
        "Where the work runs: python (this machine) or spark (Apache Spark tasks; "
        "pip install '.[spark]', Java 17). Same report either way.",
        "python",
        "Performance",
        "--engine",
        metavar="python|spark",
        lambda_reads=False,
        field=False,
    ),
    _s(
        "spark_master",
        "SPARK_MASTER",
        "Spark master for --engine spark when no Spark session is active "
        "(local[2], yarn, spark://host:7077).",
        "local[*]",
        "Performance",
        "--spark-master",
        metavar="URL",
        lambda_reads=False,
        field=False,
    ),
    _s(
        "genesys_connect_timeout",
        "GENESYS_CONNECT_TIMEOUT",
        "Seconds to connect to Genesys Cloud.",
        "5",
        "Handler",
        field=False,
    ),
    _s(
        "genesys_read_timeout",
        "GENESYS_READ_TIMEOUT",
        "Seconds to wait for a Genesys Cloud response.",
        "30",
        "Handler",
        field=False,
    ),
    _s(
        "genesys_max_retries",
        "GENESYS_MAX_RETRIES",
        "Retries of a Genesys GET on 5xx and connection errors.",
        "3",
        "Handler",
        field=False,
    ),
    _s(
        "genesys_max_rate_limit_wait",
        "GENESYS_MAX_RATE_LIMIT_WAIT",
        "Seconds one Genesys call may wait on 429 answers.",
        "60",
        "Handler",
        field=False,
    ),
    _s(
        "genesys_pool_size",
        "GENESYS_POOL_SIZE",
        "Kept-alive Genesys connections (set it to --jobs).",
        "10",
        "Handler",
        field=False,
    ),
)

#: Setting name -> its declaration.
SETTINGS = {s.name: s for s in SCHEMA}

#: Settings field -> the environment variable that sets it.
ENV_VARS = {s.name: s.env for s in SCHEMA if s.field}

#: The Lambda's defaults where the CLI's differ.
LAMBDA_DEFAULTS = {s.name: s.lambda_default for s in SCHEMA if s.lambda_default is not None}


def env_name(name: str) -> str:
    """The variable of setting ``name`` (a KeyError names a setting that does not exist)."""
    return SETTINGS[name].env


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
    #: None: DEFAULT_BATCH_SIZE when a handler runs, the store's mark_done_batch_size
    #: otherwise.
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
    #: ``module:function`` run on each new event (None: count only, or the Genesys handler).
    handler: str | None = None
    #: The Genesys Cloud conversation fetch as the handler.
    genesys: bool = False
    #: Where the Lambda reads the Genesys credentials from (Secrets Manager).
    genesys_secret_id: str | None = None
    #: Time kept free before an invocation's deadline (see :func:`deadline_margin_for`).
    deadline_margin: float = DEFAULT_MARGIN_SECONDS

    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None, **explicit: Any) -> Settings:
        """Explicit (non-None) values win, then the environment, then defaults; all validated.

        An invalid value names where it came from: the variable (``GCDEDUP_TTL='5 days':
        invalid TTL ...``), or the value alone when it was passed explicitly (a flag).
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        variables: dict[str, str] = {}  # field -> the variable its value came from
        for f in fields(cls):
            spec = SETTINGS[f.name]
            given = explicit.get(f.name)
            variable = None
            if given is None:
                given = (env.get(spec.env) or "").strip() or None
                variable = spec.env
            if given is None:
                continue
            if variable is not None:
                variables[f.name] = variable
            parse = _PARSERS.get(f.name)
            if parse is None:
                values[f.name] = given
                continue
            try:
                values[f.name] = parse(given)
            except ConfigError as exc:
                if variable is None:
                    raise
                # a URL's query may hold credentials: never shown
                shown = str(given).split("?", 1)[0]
                message = exc.message.replace(str(given), shown)
                raise ConfigError(f"{variable}={shown!r}: {message}") from None
        if "store_url" not in values:
            from .store import default_store_url

            values["store_url"] = default_store_url()
        if values.get("handler") and values.get("genesys"):
            handler = variables.get("handler", "--handler")
            genesys = variables.get("genesys", "--genesys")
            raise ConfigError(
                f"{handler}={values['handler']!r} and {genesys}=true: set one or the other, "
                "not both"
            )
        values["run_id"] = values.get("run_id") or new_run_id()
        return cls(**values)


def _named(what: str, parse: Callable[..., Any], **kw: Any) -> Callable[[Any], Any]:
    return partial(parse, what=what, **kw)


def _strip_handler(value: Any) -> str | None:
    return str(value).strip() or None


def _checked(validate: Callable[[str], Any]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        validate(str(value))
        return str(value)

    return parse


#: Settings field -> how a given value (a flag's, a variable's text) becomes the field's.
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "ttl_seconds": lambda v: int(parse_duration(v, "TTL")),
    "lease_seconds": lambda v: parse_duration(v, "lease"),
    "deadline_margin": lambda v: parse_duration(v, "deadline margin"),
    "batch_size": _named("batch size", lambda v, what: _positive_int(v, what)),
    "concurrency": _named("concurrency", lambda v, what: _positive_int(v, what)),
    "cache_size": _named("cache size", lambda v, what: _positive_int(v, what, minimum=0)),
    "namespace": _checked(validate_namespace),
    "key_strategy": _checked(get_strategy),
    "on_conflict": _named("on-conflict", lambda v, what: _choice(v, ON_CONFLICT, what)),
    "on_unkeyable": _named("on-unkeyable", lambda v, what: _choice(v, ON_UNKEYABLE, what)),
    "count_duplicates": _named("count-duplicates", lambda v, what: _bool(v, what)),
    "save_result": _named("save-result", lambda v, what: _bool(v, what)),
    "read_ahead": _named("read-ahead", lambda v, what: _bool(v, what)),
    "genesys": _named("genesys", lambda v, what: _bool(v, what)),
    "handler": _strip_handler,
}


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
    raise ConfigError(f"invalid {what} {value!r}: expected 1/0, true/false, yes/no or on/off")
