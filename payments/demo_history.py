"""A few months of history for `make run`, so the reports show something real at once.

Online and counter payments of Khánh Hòa's Department of Justice (000.00.01.H32) for the
procedures that payments/demo.py seeds, recorded through the real services
(`create_payment`, then `apply_result` for an online attempt or `record_counter`) with the
gateway's clock set back to each moment. Deterministic (a fixed random seed) and
idempotent: it does nothing when history was already seeded.

The online share rises from about a fifth in the first month to about half in the
current one, so the target line (30 %) is crossed during the period; one procedure
(2.001263) is only ever paid at the counter, so the coverage report has a shortfall.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from adapters.base import VIETNAM_TZ, Outcome, ProviderResult
from payments.demo import DEMO_AGENCY, DEMO_FILE, PROCEDURES
from payments.ids import provider_reference, public_id
from payments.models import Attempt, Client, ClientAgency, Outbox, Payment, PaymentEvent
from payments.schemas import CounterIn, Payer, PaymentCreate
from payments.services.attempts import apply_result, move_payment
from payments.services.counter import record_counter
from payments.services.gateway import Gateway
from payments.services.payments import create_payment
from payments.states import PaymentStatus

SOURCE = "demo-history"
ONLINE_PROVIDERS = (("vnpay", 40), ("momo", 25), ("vietqr", 20), ("zalopay", 15))
PROCEDURE_WEIGHTS = {"2.000488": 50, "2.000815": 30, "1.000894": 10, "1.001233": 5,
                     "2.001263": 5}
COUNTER_METHODS = (("cash", 60), ("pos", 25), ("transfer", 15))
COUNTER_ONLY = {"2.001263"}  # paid at the counter only: the coverage report lists it
OFFICERS = ("Nguyễn Thị Thu", "Trần Văn Minh", "Lê Thị Hồng")
PAYERS = ("Nguyễn Văn An", "Trần Thị Bích", "Lê Hoàng Nam", "Phạm Thị Mai", "Võ Minh Tuấn",
          "Huỳnh Thị Lan", "Đặng Quốc Huy", "Bùi Thị Ngọc", "Đỗ Văn Phúc", "Ngô Thị Hà")


@dataclass(frozen=True)
class HistoryResult:
    created: int = 0
    online: int = 0
    counter: int = 0
    unpaid: int = 0
    skipped: bool = False


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in weighted], weights=[w for _, w in weighted])[0]


def already_seeded(session: Session) -> bool:
    return session.scalar(select(PaymentEvent.id).where(PaymentEvent.source == SOURCE).limit(1)) \
        is not None


def demo_client_id(session: Session, path: Path = DEMO_FILE) -> str | None:
    """The demo portal of payments/demo.py, else any client acting for the demo agency."""
    if path.exists():
        client_id = json.loads(path.read_text()).get("id")
        if client_id and session.get(Client, client_id) is not None:
            return str(client_id)
    return session.scalar(
        select(ClientAgency.client_id).where(ClientAgency.agency_code == DEMO_AGENCY[0]).limit(1)
    )


def pay_online(session: Session, gw: Gateway, payment: Payment, provider: str,
               paid_at: datetime, *, source: str = SOURCE) -> Attempt:
    """An online attempt at `provider` that the provider confirms at `paid_at`."""
    reference = provider_reference()
    attempt = Attempt(
        id=public_id("att"), payment_id=payment.id, provider=provider, channel="online",
        reference=reference, request_id=provider_reference("RQ", 20),
        provider_reference=reference, status="pending", amount=payment.amount,
        client_ip="127.0.0.1", created_at=paid_at - timedelta(minutes=3),
    )
    session.add(attempt)
    session.flush()
    if payment.status in (PaymentStatus.CREATED.value, PaymentStatus.FAILED.value):
        move_payment(session, gw, payment, PaymentStatus.PENDING, source=source)
    apply_result(session, gw, provider,
                 ProviderResult(provider_reference=reference, outcome=Outcome.SUCCEEDED,
                                amount=payment.amount, result_code="00",
                                provider_txn_id=provider_reference("TX", 12), paid_at=paid_at),
                 source=source)
    return attempt


def _working_days(first: date, last: date) -> list[date]:
    days, day = [], first
    while day <= last:
        if day.weekday() < 5 or (day.weekday() == 5 and day.day % 2 == 0):  # some Saturdays
            days.append(day)
        day += timedelta(days=1)
    return days


def seed_history(gw: Gateway, client_id: str, *, months: int = 4, seed: int = 766,
                 per_day: tuple[int, int] = (2, 8)) -> HistoryResult:
    """Seed `months` calendar months up to yesterday (Vietnam time); idempotent."""
    with gw.sessions() as session:
        if already_seeded(session):
            return HistoryResult(skipped=True)
    rng = random.Random(seed)
    today = gw.now().astimezone(VIETNAM_TZ).date()
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    days = _working_days(first, today - timedelta(days=1))
    fees = {code: sum(a for _n, _k, a in items) for code, _name, items in PROCEDURES}
    names = {code: name for code, name, _items in PROCEDURES}
    procedures = tuple(PROCEDURE_WEIGHTS.items())
    saved_clock: Callable[[], datetime] = gw.clock
    counts = {"created": 0, "online": 0, "counter": 0, "unpaid": 0}
    receipt = 0
    try:
        with gw.sessions.begin() as session:
            client = session.get(Client, client_id)
            if client is None:
                raise ValueError(f"client {client_id} not found")
            host = client.return_hosts[0] if client.return_hosts else "127.0.0.1"
            for index, day in enumerate(days):
                progress = index / max(1, len(days) - 1)
                online_share = 0.18 + 0.34 * progress
                for seq in range(1, rng.randint(*per_day) + 1):
                    code = _pick(rng, procedures)
                    opened = datetime.combine(day, time(7, 30), tzinfo=VIETNAM_TZ) + timedelta(
                        minutes=rng.randint(0, 9 * 60))
                    gw.clock = _frozen(opened)
                    reference = f"{DEMO_AGENCY[0]}-{day:%y%m%d}-{seq:04d}"
                    payment = create_payment(session, gw, client, PaymentCreate(
                        reference=reference, procedure_code=code, agency_code=DEMO_AGENCY[0],
                        amount=fees[code], description=names[code],
                        return_url=f"http://{host}/demo?reference={reference}",
                        payer=Payer(name=rng.choice(PAYERS)),
                        dossier_received_at=day,
                    ), source=SOURCE)
                    counts["created"] += 1
                    draw = rng.random()
                    paid_at = opened + timedelta(minutes=rng.randint(2, 50))
                    gw.clock = _frozen(paid_at + timedelta(seconds=5))
                    if draw < online_share and code not in COUNTER_ONLY:
                        pay_online(session, gw, payment, _pick(rng, ONLINE_PROVIDERS), paid_at)
                        counts["online"] += 1
                    elif draw < online_share + 0.04:
                        counts["unpaid"] += 1  # left unpaid: the worker will expire it
                    else:
                        receipt += 1
                        record_counter(session, gw, payment, CounterIn(
                            method=_pick(rng, COUNTER_METHODS),  # type: ignore[arg-type]
                            receipt_no=f"{day:%y}-{receipt:07d}", paid_at=paid_at,
                            officer=rng.choice(OFFICERS),
                        ), actor="demo")
                        counts["counter"] += 1
            # the portal of the demo does not need months of notifications
            session.execute(
                update(Outbox)
                .where(Outbox.client_id == client.id, Outbox.status == "pending",
                       Outbox.created_at < datetime.combine(today, time.min, tzinfo=VIETNAM_TZ))
                .values(status="skipped", last_error="demo history: not delivered")
            )
    finally:
        gw.clock = saved_clock
    return HistoryResult(counts["created"], counts["online"], counts["counter"],
                         counts["unpaid"])


def _frozen(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment
