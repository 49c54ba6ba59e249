"""What Prometheus scrapes at ``/metrics``: the service's own counts, and the outbox as it is.

Counters and the tick's duration are kept by this process (each ``chaser run`` worker its own);
the state of the outbox (how many messages wait, how long the oldest due one has waited, how
many died) and of the review queue is read from the store at each scrape, so every worker
reports the same truth. Names follow Prometheus's conventions (``_total``, ``_seconds``).

=============================================  ==================================================
``chaser_outbox_messages_total{outcome}``       sends by outcome: ``sent``, ``recovered`` (found
                                                already sent after a crash), ``retried``,
                                                ``dead``, ``deferred``, ``resent_unknown``
``chaser_ticks_total{result}``                  ``ok`` or ``failed``
``chaser_tick_duration_seconds``                a histogram of each tick's duration
``chaser_last_tick_timestamp_seconds``          when the last tick finished (Unix time)
``chaser_replies_ingested_total``               emailed replies taken in from the inbox
``chaser_outbox_queue{state}``                  messages in the outbox by state, now
``chaser_outbox_oldest_due_age_seconds``        how long the oldest due, unsent message has waited
``chaser_replies_waiting_for_review``           replies in the review queue, now
``chaser_replies_quarantined``                  of those, messages that could not be read (kept
                                                as they arrived, for the secretary to reject)
=============================================  ==================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from notifications.outbox import DELIVERY, DispatchReport
from workflows.replies.review import WAITING
from workflows.store.models import DeliveryState, Reply, ReplyVerdict

REPLY = Reply.__table__  # type: ignore[attr-defined]
_OUTCOMES = ("sent", "recovered", "retried", "dead", "deferred", "resent_unknown")


class _StoreCollector(Collector):
    """Reads the outbox and the review queue at each scrape."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queue = GaugeMetricFamily(
            "chaser_outbox_queue", "Messages in the outbox, by state.", labels=["state"]
        )
        oldest = GaugeMetricFamily(
            "chaser_outbox_oldest_due_age_seconds",
            "How long the oldest message that is due and not yet sent has waited.",
        )
        review = GaugeMetricFamily(
            "chaser_replies_waiting_for_review", "Replies waiting in the review queue."
        )
        quarantined = GaugeMetricFamily(
            "chaser_replies_quarantined",
            "Replies in the review queue that could not be read (kept as they arrived).",
        )
        now = self.clock()
        try:
            with self.engine.connect() as conn:
                counts: dict[str, int] = dict(
                    conn.execute(
                        select(DELIVERY.c.state, func.count()).group_by(DELIVERY.c.state)
                    ).all()
                )
                due = conn.execute(
                    select(func.min(DELIVERY.c.not_before)).where(
                        DELIVERY.c.state.in_(
                            [DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.SUBMITTING]
                        ),
                        DELIVERY.c.not_before <= now,
                    )
                ).scalar_one()
                verdicts: dict[str, int] = dict(
                    conn.execute(
                        select(REPLY.c.verdict, func.count())
                        .where(REPLY.c.verdict.in_(WAITING))
                        .group_by(REPLY.c.verdict)
                    ).all()
                )
        except SQLAlchemyError:
            return  # the store is away: /health says so; these gauges are simply absent
        for state in DeliveryState:
            queue.add_metric([str(state)], float(counts.get(str(state), 0)))
        oldest.add_metric([], max(0.0, (now - due).total_seconds()) if due is not None else 0.0)
        review.add_metric([], float(sum(verdicts.values())))
        quarantined.add_metric([], float(verdicts.get(str(ReplyVerdict.QUARANTINED), 0)))
        yield queue
        yield oldest
        yield review
        yield quarantined


class Metrics:
    """This process's metrics, and the store's, in one registry."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "chaser_outbox_messages",
            "Messages the dispatcher handled, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in _OUTCOMES:
            self.messages.labels(outcome)
        self.ticks = Counter(
            "chaser_ticks", "Ticks run, by result.", ["result"], registry=self.registry
        )
        for result in ("ok", "failed"):
            self.ticks.labels(result)
        self.tick_duration = Histogram(
            "chaser_tick_duration_seconds",
            "How long each tick took.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.last_tick = Gauge(
            "chaser_last_tick_timestamp_seconds",
            "When the last tick finished (Unix time).",
            registry=self.registry,
        )
        self.ingested = Counter(
            "chaser_replies_ingested", "Replies taken in from the inbox.", registry=self.registry
        )
        self.registry.register(_StoreCollector(engine, clock))

    def tick_done(self, seconds: float, dispatch: DispatchReport | None, ingested: int) -> None:
        self.ticks.labels("ok").inc()
        self.tick_duration.observe(seconds)
        self.last_tick.set(time.time())
        if dispatch is not None:
            for outcome in _OUTCOMES:
                self.messages.labels(outcome).inc(getattr(dispatch, outcome))
        self.ingested.inc(ingested)

    def tick_failed(self, seconds: float) -> None:
        self.ticks.labels("failed").inc()
        self.tick_duration.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text Prometheus scrapes, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
