"""The escalation auditor: every open escalation has a future step or is finished.

Run as a scheduled job (bot/jobs.py). A chain is *stuck* when its alert is open, steps
remain, and either no deadline is set or the deadline is long past (the ticker missed
it). A chain the engine stopped (the alert fell to a level that does not escalate,
`core.policy.stopped`) has no deadline on purpose and is left alone. A stuck chain is
retried once — its deadline set to now, so the next tick fires it — and logged; one
that is stuck again after its retry is logged as an error for a person to look at.
Each run also settles the SMS and calls whose carrier verdict came before their send
was recorded (`core.escalation_status.settle_reported`) and sets the
`escalation_auditor_heartbeat` gauge.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Alert, AuditEntry
from core.escalation_status import settle_reported
from core.metrics import Metrics
from core.policy import is_stopped

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditReport:
    checked: int
    stuck: int
    retried: int
    settled: int = 0  # sends settled from an early carrier verdict


async def audit_escalations(
    session: AsyncSession, now: datetime, metrics: Metrics, *, overdue_s: float = 30.0
) -> AuditReport:
    """Check every open escalation; retry stuck ones once; settle early-reported sends.

    Runs in the caller's transaction.
    """
    rows = await session.execute(
        select(Alert.id, Alert.user_id, Alert.step, Alert.next_step_at, Alert.escalation).where(
            Alert.status == "open",
            Alert.escalation.is_not(None),
            or_(
                Alert.next_step_at.is_(None),
                Alert.next_step_at < now - timedelta(seconds=overdue_s),
            ),
        )
    )
    checked = stuck = retried = 0
    for alert_id, user_id, step, next_at, snapshot in rows:
        checked += 1
        if is_stopped(snapshot):
            continue  # stopped by the engine on purpose: not stuck
        steps = list((snapshot or {}).get("steps") or ())
        if step + 1 >= len(steps):
            continue  # finished (alerts.step is the last step that went out)
        stuck += 1
        if (snapshot or {}).get("audit_retried_step") == step:
            logger.error(
                "escalation stuck again after a retry alert_id=%s step=%s next_step_at=%s",
                alert_id, step, next_at,
            )  # fmt: skip
            continue
        retried += 1
        why = "no deadline" if next_at is None else f"deadline {next_at.isoformat()} missed"
        logger.warning("escalation stuck alert_id=%s step=%s (%s): retrying", alert_id, step, why)
        await session.execute(
            update(Alert)
            .where(Alert.id == alert_id, Alert.step == step)
            .values(next_step_at=now, escalation={**snapshot, "audit_retried_step": step})
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            insert(AuditEntry).values(
                alert_id=alert_id, user_id=user_id, at=now, kind="audit_retry",
                detail=f"auditor: step {step} was stuck ({why}); retried once",
                data={"step": step},
            )
        )  # fmt: skip
    settled = await settle_reported(session, now)
    metrics.gauge("escalation_auditor_heartbeat", now.timestamp())
    metrics.count("escalation_auditor_runs")
    if stuck:
        metrics.count("escalation_stuck", float(stuck))
    if settled:
        metrics.count("escalation_sends_settled", float(settled))
    return AuditReport(checked, stuck, retried, settled)
