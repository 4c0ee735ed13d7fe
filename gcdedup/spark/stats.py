"""``stats --engine spark``: the Python engine's report, from Spark aggregations.

The driver plans chunks as the Python engine does (:func:`~gcdedup.analysis.plan_chunks`);
Spark tasks read them with gcdedup's own code into a narrow table (:mod:`.scan`);
Spark groups that table by key, finds each key's first delivery in input order,
and counts duplicates by kind, topic, file, arrival gap, TTL and time bucket. The
driver receives only aggregates (rows per kind, topic, file, time bucket; the top
keys; one info row per chunk) and lays them out with
:func:`~gcdedup.analysis.report.build_report` and :mod:`.sections`, so the document
is the Python engine's, field by field.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from ..analysis.classify import CONFLICT, KINDS, REPLAY, RESEND, RETRY
from ..analysis.options import AnalysisOptions
from ..analysis.plan import plan_chunks
from ..analysis.records import REC, SEQ_MASK, Chunk, empty_partial, stable_digest
from ..analysis.report import GAP_BUCKETS, PERCENTILES, StatsReport, _Layout, build_report
from ..analysis.run import checked
from ..analysis.tally import Tally, TallyContext
from ..errors import UsageError
from ..sources import expand_paths
from . import sections
from .scan import EVENT_FIELDS, INFO_FIELD, read_info, scan_rows


def s3_path(path: str) -> str:
    """``s3a://`` and ``s3n://`` (Hadoop's names) are read as ``s3://``."""
    for scheme in ("s3a://", "s3n://"):
        if path.startswith(scheme):
            return "s3://" + path[len(scheme) :]
    return path


def analyze_spark(spark: Any, paths: Sequence[str], options: AnalysisOptions) -> StatsReport:
    """:func:`gcdedup.analysis.analyze` on ``spark``: the same report, field by field."""
    strategies, makers = checked(options)
    if any(p == "-" for p in paths):
        raise UsageError("the Spark engine reads files and object stores, not standard input")
    files = expand_paths([s3_path(p) for p in paths])
    jobs = options.jobs or spark.sparkContext.defaultParallelism
    chunks = plan_chunks(files, options.fmt, jobs, options.parallel_threshold)
    run = _Run(spark, chunks, strategies, options)
    try:
        partial = run.scan()
        layout = _Layout.build(chunks, partial.chunks)
        ttls = sorted(set(options.ttls))
        tallies = [run.tally(i, layout, ttls, detailed=i == 0) for i in range(len(strategies))]
        for name in run.names:
            partial.names[0][stable_digest(name)] = name

        def tallier(ctx: TallyContext, strategy: int) -> list[Tally]:
            return [tallies[strategy]]

        report = build_report(partial, chunks, files, strategies, makers, options, tallier)
        report.doc.update(run.sections(ttls))
        return report
    finally:
        run.close()


class _Run:
    """One analysis on Spark: the narrow table and the aggregates read from it."""

    def __init__(
        self, spark: Any, chunks: list[Chunk], strategies: list[str], options: AnalysisOptions
    ) -> None:
        self.spark = spark
        self.chunks = chunks
        self.strategies = strategies
        self.options = options
        self.names: set[str] = set()  # keys the report shows (examples, top keys)
        #: (strategy, kind code) -> the key of the earliest duplicate of that kind.
        self.examples: dict[tuple[int, int], str] = {}
        #: the main strategy's timed and untimed copies, and the timed ones' arrivals.
        self.head: dict[str, Any] = {}
        self._cached: list[Any] = []
        self._main: Any = None  # the main strategy's duplicates, for the sections
        #: the main strategy's copies slipping past each TTL, per kind.
        self.slipped: dict[int, list[int]] = {}

    def close(self) -> None:
        for frame in self._cached:
            frame.unpersist()

    def _cache(self, frame: Any) -> Any:
        from pyspark import StorageLevel

        self._cached.append(frame.persist(StorageLevel.MEMORY_AND_DISK))
        return frame

    def scan(self) -> Any:
        """Run the tasks; keep the event rows cached; return the partial of chunk infos."""
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        types = {
            "chunk": T.IntegerType(),
            "pos": T.LongType(),
            "wm": T.LongType(),
            "fi": T.IntegerType(),
            "family": T.StringType(),
            "replay": T.BooleanType(),
            "body": T.BinaryType(),
            "did": T.BinaryType(),
        }
        fields = [T.StructField(name, types[name]) for name in EVENT_FIELDS]
        fields += [T.StructField(f"k{i}", T.StringType()) for i in range(len(self.strategies))]
        fields.append(T.StructField(INFO_FIELD, T.StringType()))
        task = functools.partial(
            scan_rows,
            strategies=self.strategies,
            namespace=self.options.namespace,
            fmt=self.options.fmt,
        )
        sc = self.spark.sparkContext
        rdd = sc.parallelize(self.chunks, max(1, len(self.chunks))).mapPartitions(task)
        table = self._cache(
            self.spark.createDataFrame(rdd, T.StructType(fields), verifySchema=False)
        )
        partial = empty_partial(len(self.strategies))
        found = []
        for row in table.where(F.col(INFO_FIELD).isNotNull()).select(INFO_FIELD).collect():
            found.append(read_info(row[0]))
        for index, info, unkeyable, examples in sorted(found, key=lambda f: f[0]):
            partial.chunks[index] = info
            for i, n in enumerate(unkeyable):
                partial.unkeyable[i] += n
                if partial.unkeyable_example[i] is None:
                    partial.unkeyable_example[i] = examples[i]
        self.table = table.where(F.col(INFO_FIELD).isNull())
        return partial

    def tally(self, strategy: int, layout: _Layout, ttls: list[int], detailed: bool) -> Tally:
        """One strategy's duplicates, counted by Spark (see :mod:`gcdedup.analysis.tally`)."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        spark = self.spark
        places = spark.createDataFrame(
            [
                (c.index, layout.wm_before[c.index], layout.seq_base[c.index], c.file_index)
                for c in self.chunks
            ],
            "chunk int, wm_before long, seq_base long, file int",
        )
        key = F.col(f"k{strategy}")
        events = (
            self.table.where(key.isNotNull())
            .join(F.broadcast(places), "chunk")
            .select(
                key.alias("key"),
                "pos",
                F.greatest("wm", "wm_before").alias("arrival"),
                (F.col("seq_base") + F.col("pos").bitwiseAND(SEQ_MASK)).alias("gseq"),
                "fi",
                "family",
                "file",
                "replay",
                "body",
                "did",
            )
        )
        # Each key's deliveries in input order: the first is the one every copy is
        # compared with (the rules of gcdedup.analysis.classify, on the digests).
        order = Window.partitionBy("key").orderBy("pos")
        first = F.first(F.struct("pos", "arrival", "gseq", "fi", "body", "did")).over(order)
        ranked = events.withColumn("n", F.row_number().over(order)).withColumn("f", first)
        kind = (
            F.when(F.col("replay"), REPLAY)
            .when(F.col("did") == F.col("f.did"), RETRY)
            .when(F.col("body") == F.col("f.body"), RESEND)
            .otherwise(CONFLICT)
        )
        timed = (F.col("arrival") >= 0) & (F.col("f.arrival") >= 0)
        dups = self._cache(
            ranked.where(F.col("n") > 1).select(
                "key",
                "pos",
                kind.alias("kind"),
                "family",
                "file",
                "arrival",
                timed.alias("timed"),
                F.when(timed, F.col("arrival") - F.col("f.arrival")).alias("gap"),
                F.when(~timed, F.col("gseq") - F.col("f.gseq")).alias("ogap"),
                F.col("f.pos").alias("f_pos"),
                F.col("f.fi").alias("f_fi"),
                F.col("f.arrival").alias("f_arrival"),
            )
        )
        out = Tally(slipped={ttl: [0] * len(KINDS) for ttl in ttls})
        # One small answer for counts by kind, topic and file, the earliest duplicate of
        # each kind, and the timed copies' range (rows: kinds x topics x files at most).
        timed_arrival = F.when(F.col("timed"), F.col("arrival"))
        groups = ["kind", "family", "file"] if detailed else ["kind"]
        head = {"timed": 0, "untimed": 0, "low": None, "high": None}
        for row in (
            dups.groupBy(*groups)
            .agg(
                F.count("*").alias("n"),
                F.min(F.struct("pos", "key")).alias("ex"),
                F.sum(F.col("timed").cast("long")).alias("timed"),
                F.min(timed_arrival).alias("low"),
                F.max(timed_arrival).alias("high"),
            )
            .collect()
        ):
            code, n, (pos, name) = row["kind"], row["n"], row["ex"]
            out.by_kind[code] += n
            out.duplicates += n
            known = out.examples[code]
            if known is None or pos < known[0]:
                out.examples[code] = (pos, stable_digest(name))
                self.examples[strategy, code] = name
            if detailed:
                family, file_index = row["family"], row["file"]
                out.dup_by_family[family] = out.dup_by_family.get(family, 0) + n
                out.dup_by_file[file_index] = out.dup_by_file.get(file_index, 0) + n
                head["timed"] += row["timed"]
                head["untimed"] += n - row["timed"]
                for edge, pick in (("low", min), ("high", max)):
                    if row[edge] is not None:
                        value = row[edge] if head[edge] is None else pick(head[edge], row[edge])
                        head[edge] = value
        if not detailed:
            return out
        self.head = head
        self.names.update(name for (i, _), name in self.examples.items() if i == 0)
        self._main = dups
        self.slipped = out.slipped
        if not out.duplicates:
            return out
        keys = self._cache(self._per_key(dups, ttls))
        if ttls:
            sums = keys.agg(
                *[
                    F.sum(F.col(f"s{ttl}")[f"c{code}"]).alias(f"{ttl}_{code}")
                    for ttl in ttls
                    for code in range(len(KINDS))
                ]
            ).first()
            for ttl in ttls:
                out.slipped[ttl] = [sums[f"{ttl}_{code}"] or 0 for code in range(len(KINDS))]
        top = self.options.top
        if top > 0:
            best = keys.orderBy(F.desc("dups"), F.asc("f_pos")).limit(top).collect()
            for r in best:
                counts = [r[f"c{code}"] for code in range(len(KINDS))]
                first_rec = REC.pack(r["f_pos"], 0, 0, 0, r["f_fi"] << 1)
                kd = stable_digest(r["key"])
                out.top.append((r["dups"], r["f_pos"], kd, counts, first_rec))
                self.names.add(r["key"])
        return out

    @staticmethod
    def _per_key(dups: Any, ttls: list[int]) -> Any:
        """Per repeated key: its duplicates by kind, its first delivery, and how many
        copies slip past each TTL (a store forgets a key ttl seconds after it last
        processed it; the copy arriving later is processed again and starts a new
        window), folded over its timed copies in input order."""
        from pyspark.sql import functions as F

        per_kind = [
            F.sum(F.when(F.col("kind") == code, 1).otherwise(0)).alias(f"c{code}")
            for code in range(len(KINDS))
        ]
        copies = F.sort_array(
            F.collect_list(F.when(F.col("timed"), F.struct("pos", "arrival", "kind")))
        )
        keys = dups.groupBy("key").agg(
            F.count("*").alias("dups"),
            F.min("f_pos").alias("f_pos"),
            F.min("f_fi").alias("f_fi"),
            F.min("f_arrival").alias("f_arrival"),
            copies.alias("copies"),
            *per_kind,
        )
        zero = ", ".join(f"'c{code}', 0L" for code in range(len(KINDS)))
        for ttl in ttls:
            bump = ", ".join(
                f"'c{code}', acc.c{code} + IF(x.kind = {code}, 1L, 0L)"
                for code in range(len(KINDS))
            )
            fold = (
                f"aggregate(copies, named_struct('last', f_arrival, {zero}), "
                f"(acc, x) -> IF(x.arrival - acc.last > {ttl}, "
                f"named_struct('last', x.arrival, {bump}), acc))"
            )
            keys = keys.withColumn(f"s{ttl}", F.expr(fold))
        return keys

    def sections(self, ttls: list[int]) -> dict[str, Any]:
        """The gap, timeline and TTL sections of the main strategy, from Spark's answers."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        dups = self._main
        slipped = self.slipped or {ttl: [0] * len(KINDS) for ttl in ttls}
        if dups is None:
            empty = sections.gap_doc(0, 0, {}, {}, [0] * len(GAP_BUCKETS), None)
            return {
                "gaps": empty,
                "timeline": sections.timeline_doc(None, None, {}),
                "ttl": sections.ttl_doc(ttls, slipped, 0, 0, None),
            }
        head = self.head
        timed, untimed = head["timed"] or 0, head["untimed"] or 0

        def ranked(column: str, n: int) -> tuple[dict[int, int], list[int], int | None]:
            """Values at the percentile ranks, the histogram and the largest value."""
            if not n:
                return {}, [0] * len(GAP_BUCKETS), None
            ranks = sorted({sections.rank(p, n) for p in PERCENTILES})
            counted = dups.where(F.col(column).isNotNull()).groupBy(column).count()
            whole = Window.orderBy(column).rowsBetween(Window.unboundedPreceding, 0)
            cum = counted.withColumn("cum", F.sum("count").over(whole))
            low = 0.0
            buckets = []
            for _, bound in GAP_BUCKETS:
                inside = F.col(column) >= low
                if bound != float("inf"):
                    inside &= F.col(column) < bound
                buckets.append(F.sum(F.when(inside, F.col("count")).otherwise(0)))
                low = bound
            row = cum.agg(
                *[F.min(F.when(F.col("cum") >= r, F.col(column))) for r in ranks],
                *buckets,
                F.max(column),
            ).first()
            values = list(row)
            at = dict(zip(ranks, values[: len(ranks)], strict=True))
            histogram = [int(v) for v in values[len(ranks) : len(ranks) + len(GAP_BUCKETS)]]
            return at, histogram, values[-1]

        at, histogram, max_gap = ranked("gap", timed)
        untimed_at, _, _ = ranked("ogap", untimed)
        counts: dict[tuple[int, int], int] = {}
        low, high = head["low"], head["high"]
        if timed:
            size = sections.timeline_size(low, high)
            start = low - low % size
            bucket = F.floor((F.col("arrival") - start) / size).cast("long")
            for r in dups.where("timed").groupBy(bucket.alias("b"), "kind").count().collect():
                counts[(r["b"], r["kind"])] = r["count"]
        return {
            "gaps": sections.gap_doc(timed, untimed, at, untimed_at, histogram, max_gap),
            "timeline": sections.timeline_doc(low, high, counts),
            "ttl": sections.ttl_doc(ttls, self.slipped, timed, untimed, max_gap),
        }
