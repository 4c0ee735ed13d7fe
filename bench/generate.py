"""Generate a realistic Genesys Cloud EventBridge stream with a known duplicate mix.

The stream is written in arrival order as JSON Lines. Event shapes follow the real
payloads (conversation detail events, audits, presence); sizes are close to the
samples (~0.9-1 KB per compact line). A fraction of deliveries are copies of an
earlier event, of a chosen kind:

* ``retry``    the identical envelope again (EventBridge or Lambda redelivery);
* ``replay``   the identical envelope plus ``replay-name`` (an archive replay);
* ``resend``   a new envelope ``id``/``time``, new ``timestamp`` and CorrelationId,
               the same ``eventBody`` (re-sent upstream);
* ``conflict`` the same business identity, a different ``eventBody`` (a superseding
               update); presence events have no business id apart from their body, so
               they never get conflicts.

A copy always arrives after its original (delays are positive), so the original is
the first occurrence and ``gcdedup stats`` must classify each copy as generated.
The true counts go to a sidecar ``<out>.truth.json``.

    python bench/generate.py --events 1000000 --out bench/data/stream.jsonl
"""

from __future__ import annotations

import argparse
import functools
import heapq
import random
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

KINDS = ("retry", "replay", "resend", "conflict")
#: Mean delay (seconds) of each kind: redeliveries come fast, replays and re-sends late.
DEFAULT_DELAYS = {"retry": 120.0, "replay": 6 * 3600.0, "resend": 3 * 3600.0, "conflict": 60.0}
DEFAULT_MIX = {"retry": 0.5, "replay": 0.1, "resend": 0.3, "conflict": 0.1}

#: (topic suffix or kind, weight): the shape of a contact-centre day.
TOPICS: tuple[tuple[str, float], ...] = (
    ("customer.start", 0.14),
    ("customer.end", 0.14),
    ("agent.start", 0.14),
    ("agent.end", 0.14),
    ("acw", 0.12),
    ("audit", 0.12),
    ("presence", 0.20),
)
ORG = "32aa07aa-db1b-4987-abd0-9483601ec29d"
SOURCE = f"aws.partner/genesys.com/cloud/{ORG}/gcdedup-bench"
MEDIA = ("voice", "chat", "email", "message", "callback")
PRESENCES = ("AVAILABLE", "BUSY", "AWAY", "BREAK", "MEAL", "MEETING", "TRAINING", "OFFLINE")
AUDIT_ENTITIES = ("UserPresence", "OAuthClient", "Queue", "User", "Flow")


@functools.lru_cache(maxsize=4096)
def _base(second: int) -> str:
    return datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def iso(seconds: float) -> str:
    return _base(int(seconds)) + "Z"


def iso_ms(seconds: float) -> str:
    ms = int(seconds * 1000)
    return f"{_base(ms // 1000)}.{ms % 1000:03d}Z"


class Generator:
    """Builds envelopes; all randomness comes from one seeded ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.users = [self.uid() for _ in range(400)]
        self.queues = [self.uid() for _ in range(30)]
        self.divisions = [self.uid() for _ in range(4)]

    def uid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def envelope(self, detail_type: str, topic: str, body: dict[str, Any], t: float) -> dict:
        return {
            "version": "0",
            "id": self.uid(),
            "detail-type": detail_type,
            "source": SOURCE,
            "account": "123456789012",
            "time": iso(t),
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "topicName": topic,
                "version": "2",
                "eventBody": body,
                "metadata": {"CorrelationId": self.uid()},
                "timestamp": iso_ms(t),
            },
        }

    def event(self, kind: str, t: float) -> dict[str, Any]:
        rng = self.rng
        if kind == "presence":
            user = rng.choice(self.users)
            body = {
                "source": "PURECLOUD",
                "presenceDefinition": {
                    "id": self.uid(),
                    "systemPresence": rng.choice(PRESENCES),
                    "languageLabels": {"en_US": "Available", "fr": "Disponible"},
                },
                "primary": True,
                "message": "",
                "modifiedDate": iso_ms(t - rng.random()),
                "divisionId": rng.choice(self.divisions),
                "userId": user,
                "selfUri": f"/api/v2/users/{user}/presences/PURECLOUD",
            }
            return self.envelope("v2.users.{id}.presence", f"v2.users.{user}.presence", body, t)
        if kind == "audit":
            entity = rng.choice(AUDIT_ENTITIES)
            entity_id = self.uid()
            user = rng.choice(self.users)
            body = {
                "id": self.uid(),
                "userId": user,
                "username": f"agent.{user[:8]}@example.com",
                "clientId": self.uid(),
                "userHomeOrgId": ORG,
                "serviceName": "Directory" if entity != "OAuthClient" else "Platform",
                "eventTime": iso_ms(t - rng.random()),
                "action": rng.choice(("Update", "Create", "Delete")),
                "entity": {"id": entity_id, "name": f"{entity} {rng.randrange(10000)}"},
                "entityType": entity,
                "propertyChanges": [
                    {
                        "property": "presence",
                        "entity": {"id": entity_id},
                        "oldValues": [rng.choice(PRESENCES)],
                        "newValues": [rng.choice(PRESENCES)],
                    }
                ],
                "context": {"source": "publicApi", "remoteIp": "203.0.113.7"},
            }
            return self.envelope(
                "v2.audits.entitytype.{id}.entityid.{id}",
                f"v2.audits.entitytype.{entity}.entityid.{entity_id}",
                body,
                t,
            )
        conversation = self.uid()
        body = {
            "eventTime": int(t * 1000) - rng.randrange(2000),
            "conversationId": conversation,
            "participantId": self.uid(),
            "sessionId": self.uid(),
            "mediaType": rng.choice(MEDIA).upper(),
            "provider": "Edge",
            "direction": rng.choice(("INBOUND", "OUTBOUND")),
            "ani": f"tel:+1555{rng.randrange(10**7):07d}",
            "queueId": rng.choice(self.queues),
            "divisionId": rng.choice(self.divisions),
            "externalContactId": self.uid(),
            "conversationExternalContactIds": [self.uid()],
        }
        if kind.startswith("agent") or kind == "acw":
            body["userId"] = rng.choice(self.users)
        if kind.endswith("end") or kind == "acw":
            body["disconnectType"] = rng.choice(("CLIENT", "ENDPOINT", "PEER", "TRANSFER"))
            body["interactingDurationMs"] = rng.randrange(5_000, 900_000)
        if kind == "acw":
            body["wrapupCode"] = self.uid()
            body["durationMs"] = rng.randrange(1_000, 300_000)
        return self.envelope(
            f"v2.detail.events.conversation.{{id}}.{kind}",
            f"v2.detail.events.conversation.{conversation}.{kind}",
            body,
            t,
        )

    def copy(self, original: dict[str, Any], kind: str, t: float) -> dict[str, Any]:
        """A later delivery of ``original`` of the given kind, arriving at ``t``."""
        if kind == "retry":
            return original
        if kind == "replay":
            replayed = dict(original)
            replayed["replay-name"] = f"replay-{int(t) // 86400}"
            return replayed
        detail = original["detail"]
        body = detail["eventBody"]
        if kind == "conflict":
            body = dict(body)
            if "propertyChanges" in body:
                body["propertyChanges"] = [{"property": "state", "newValues": [self.uid()]}]
            else:
                body["interactingDurationMs"] = int(body.get("interactingDurationMs", 0)) + 1
        out = dict(original)
        out["id"] = self.uid()
        out["time"] = iso(t)
        out["detail"] = {
            **detail,
            "eventBody": body,
            "metadata": {"CorrelationId": self.uid()},
            "timestamp": iso_ms(t),
        }
        return out


def parse_mix(text: str) -> dict[str, float]:
    mix = {kind: 0.0 for kind in KINDS}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if name.strip() not in mix:
            raise SystemExit(f"unknown kind {name!r} in --mix; use {', '.join(KINDS)}")
        mix[name.strip()] = float(value)
    total = sum(mix.values())
    return {k: v / total for k, v in mix.items()}


def generate(
    out: Path,
    events: int,
    *,
    dup_rate: float = 0.08,
    mix: dict[str, float] | None = None,
    rate: float = 40.0,
    start: float = 1_750_000_000.0,
    delay_scale: float = 1.0,
    seed: int = 7,
) -> dict[str, Any]:
    """Write ``events`` deliveries to ``out``; return (and write) the truth record."""
    rng = random.Random(seed)
    gen = Generator(rng)
    mix = mix or DEFAULT_MIX
    kinds, weights = list(mix), list(mix.values())
    topics, topic_weights = [t for t, _ in TOPICS], [w for _, w in TOPICS]
    # Copies per original so that copies / deliveries == dup_rate on average.
    copy_p = dup_rate / (1.0 - dup_rate) if dup_rate < 1 else 1.0
    by_kind = dict.fromkeys(KINDS, 0)
    by_family: dict[str, dict[str, int]] = {}
    pending: list[tuple[float, int, bytes]] = []
    written = unique = seq = 0
    t = start
    dumps = orjson.dumps
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:

        def emit(line: bytes) -> None:
            nonlocal written
            fh.write(line)
            written += 1

        while written + len(pending) < events:
            t += rng.expovariate(rate)
            while pending and pending[0][0] <= t:
                emit(heapq.heappop(pending)[2])
            topic = rng.choices(topics, topic_weights)[0]
            original = gen.event(topic, t)
            family = original["detail-type"]
            counts = by_family.setdefault(family, {"events": 0, "unique": 0, "duplicates": 0})
            counts["events"] += 1
            counts["unique"] += 1
            unique += 1
            emit(dumps(original) + b"\n")
            while rng.random() < copy_p and written + len(pending) < events:
                kind = rng.choices(kinds, weights)[0]
                if kind == "conflict" and topic == "presence":
                    break  # presence has no business id apart from its body
                arrival = t + max(1.0, rng.expovariate(1.0 / (DEFAULT_DELAYS[kind] * delay_scale)))
                line = dumps(gen.copy(original, kind, arrival)) + b"\n"
                seq += 1
                heapq.heappush(pending, (arrival, seq, line))
                by_kind[kind] += 1
                counts["events"] += 1
                counts["duplicates"] += 1
        while pending:
            emit(heapq.heappop(pending)[2])
    truth = {
        "file": out.name,
        "events": written,
        "unique": unique,
        "duplicates": written - unique,
        "by_kind": by_kind,
        "by_topic": dict(sorted(by_family.items())),
        "bytes": out.stat().st_size,
        "params": {
            "dup_rate": dup_rate,
            "mix": mix,
            "rate_per_second": rate,
            "start": start,
            "delay_means_seconds": {k: v * delay_scale for k, v in DEFAULT_DELAYS.items()},
            "seed": seed,
        },
    }
    out.with_name(out.name + ".truth.json").write_bytes(
        orjson.dumps(truth, option=orjson.OPT_INDENT_2) + b"\n"
    )
    return truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=100_000, help="deliveries to write")
    parser.add_argument(
        "--out", type=Path, default=Path("bench/data/stream.jsonl"), help="JSON Lines to write"
    )
    parser.add_argument("--dup-rate", type=float, default=0.08, help="share of copies")
    parser.add_argument(
        "--mix", default="retry=0.5,replay=0.1,resend=0.3,conflict=0.1", help="kinds of copies"
    )
    parser.add_argument("--rate", type=float, default=40.0, help="originals per second")
    parser.add_argument("--delay-scale", type=float, default=1.0, help="multiply mean delays")
    parser.add_argument("--seed", type=int, default=7, help="random seed (same seed, same file)")
    args = parser.parse_args(argv)
    truth = generate(
        args.out,
        args.events,
        dup_rate=args.dup_rate,
        mix=parse_mix(args.mix),
        rate=args.rate,
        delay_scale=args.delay_scale,
        seed=args.seed,
    )
    print(
        f"wrote {truth['events']:,} events ({truth['bytes'] / 1e6:,.1f} MB) to {args.out}; "
        f"duplicates {truth['by_kind']}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
