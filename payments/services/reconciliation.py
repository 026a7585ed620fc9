"""Matching a provider's statement against what feegate recorded (DESIGN.md, flow 6).

A statement is evidence a person uploaded, not a signed message: matching never moves
money state. It lists what agrees and what differs, flags the payments concerned for
staff (the same `needs_review` the search filters on), writes an event on each such
payment's trail, and waits for a person to resolve every difference with a note.

Results, per statement line:
- `matched`: our attempt was paid, for the same amount;
- `amount_differs`: our attempt was paid, for another amount;
- `not_paid_here`: the provider says paid, our attempt is not (a lost callback the
  status sync has not caught yet, or a late success): money was taken, look at it;
- `unknown`: no attempt of ours carries this reference;
- `duplicate`: the reference appears again in the same statement;
- `refund_matched` / `refund_unknown`: a refund line, with or without a succeeded refund of
  that amount on the attempt;
- `unreadable`: the adapter could not read the row (the reason is kept);
and, per paid online attempt of ours inside the statement's period that no line names:
- `missing`: we recorded money the provider's statement does not show.

How, so that a million lines take seconds and never hold a payment's lock for long:

1. lines are read streaming and mapped by the adapter, CHUNK at a time. Refund lines, rare,
   are paired with our succeeded refunds in Python per chunk (each refund once, oldest
   first). On PostgreSQL every chunk is COPYed into a temporary table with no index (one
   short transaction per chunk), and once the whole file is staged one statement matches
   it: one hash join with the attempts (by the provider and the reference the provider
   knows, else our own reference), duplicates from a grouping of the staged lines, status
   and amount compared in SQL, into a second temporary table; `reconciliation_items` are
   written from it by ranges of ITEMS_CHUNK lines, one transaction each, locking no
   payment. On SQLite (one writer anyway) each chunk is staged and matched in its own
   transaction, duplicates checked against the run's earlier items;
2. `missing` is one INSERT … SELECT (an anti-join) of our paid attempts in the period
   against the matched lines (PostgreSQL), or per chunk of attempts (SQLite);
3. the payments a difference names are flagged and told on their trail, FLAG_CHUNK
   payments per transaction (three set-based statements on PostgreSQL, the ORM on SQLite),
   each such transaction holding only those rows' locks for milliseconds (a callback for
   one of them waits that long at most, not for the import).

The web page matches a small upload at once; a large one is stored and queued
(`queue`), and `feegate worker` runs it (`run_queued`), the page showing its progress.
The CLI matches at once. A run whose process died is taken over by a worker once its
lease has passed (re-read from the stored file, or resumed where flagging stopped).
"""

from __future__ import annotations

import itertools
import json
import logging
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from adapters.base import VIETNAM_TZ, Adapter, StatementLine
from adapters.errors import MalformedMessage, NotSupported
from payments.db import UTCDateTime, lock_for_update
from payments.errors import Conflict, DomainError, FieldError, NotFound, ValidationFailed
from payments.ids import public_id
from payments.models import Attempt, Payment, Reconciliation, ReconciliationItem, Refund
from payments.models.reconciliation import ReconciliationUpload
from payments.services.events import record_event
from payments.services.gateway import Gateway
from payments.services.locking import lock_payment
from payments.statements import Limits, StatementFileError, StatementReader, kind_of
from payments.states import AttemptStatus, Flag, RefundStatus

logger = logging.getLogger(__name__)

MATCHED = "matched"
REFUND_MATCHED = "refund_matched"
AGREEING = frozenset({MATCHED, REFUND_MATCHED})
RESULTS = (MATCHED, "amount_differs", "not_paid_here", "unknown", "duplicate",
           REFUND_MATCHED, "refund_unknown", "unreadable", "missing")
SOURCE = "reconcile"
CHUNK = 50_000  # statement lines per transaction (a few seconds of work at most)
FLAG_CHUNK = 500  # payments flagged per transaction
UPLOAD_PIECE = 1024 * 1024  # bytes per stored piece of an upload
LEASE = timedelta(minutes=5)

QUEUED, PARSING, FLAGGING, DONE, FAILED = "queued", "parsing", "flagging", "done", "failed"
WORKING = (QUEUED, PARSING, FLAGGING)

MSG_UNKNOWN = "no payment of ours has this reference"
MSG_DUPLICATE = "the statement lists this reference again"
MSG_MISSING = "paid in our records, absent from the statement"
MSG_NO_LINES = "tệp không có dòng nào dưới dòng tiêu đề"


def differences(counts: Mapping[str, int]) -> int:
    """How many lines of a run disagree with our records (from its stored counts)."""
    return sum(n for result, n in counts.items() if result not in AGREEING)


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    def utc_bounds(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.first, time.min, tzinfo=VIETNAM_TZ)
        end = datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=VIETNAM_TZ)
        return start.astimezone(UTC), end.astimezone(UTC)


class Stopped(Exception):
    """The worker was asked to stop between two chunks; the run is given back."""


# -- the entry points ------------------------------------------------------------------------


def reconcile(
    gw: Gateway,
    provider: str,
    filename: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    uploaded_by: str,
    period: Period | None = None,
) -> str:
    """Match the rows of one statement file now; return the reconciliation's id.

    `rows` may be a `StatementReader` (streaming: a file error found half-way is raised
    and nothing is kept) or any iterable of mappings. `period` bounds the `missing` check;
    without it, the Vietnam dates of the lines' times are used, and a statement whose
    lines carry no time is not checked for missing payments (the run says so: no period).
    """
    adapter = _statement_adapter(gw, provider)
    run_id = _new_run(gw, provider, filename, uploaded_by, period, status=PARSING)
    try:
        _read_and_match(gw, adapter, run_id, rows)
    except (StatementFileError, DomainError):
        _discard(gw, run_id)
        raise
    _finish(gw, run_id)
    return run_id


def queue(
    gw: Gateway,
    provider: str,
    filename: str,
    stream: IO[bytes],
    *,
    uploaded_by: str,
    period: Period | None = None,
) -> str:
    """Store an uploaded statement for the worker; return the (queued) run's id.

    The provider and the kind of file are checked now; the rest when the worker reads it
    (the run then shows `failed` and why). Memory stays at one piece of the file.
    """
    _statement_adapter(gw, provider)
    kind_of(filename)
    limits = Limits.of(gw.settings)
    run_id = public_id("rec")
    with gw.sessions.begin() as session:
        session.add(Reconciliation(
            id=run_id, provider=provider, filename=filename[:255],
            period_from=period.first if period else None,
            period_to=period.last if period else None, uploaded_by=uploaded_by,
            line_count=0, counts={}, created_at=gw.now(), status=QUEUED))
        session.flush()
        size = 0
        for seq in itertools.count():
            piece = stream.read(UPLOAD_PIECE)
            if not piece:
                break
            size += len(piece)
            if size > limits.max_bytes:
                raise StatementFileError(
                    f"tệp lớn hơn {limits.max_bytes // (1024 * 1024)} MB; hãy chia nhỏ theo ngày")
            session.execute(insert(ReconciliationUpload).values(
                reconciliation_id=run_id, seq=seq, data=piece))
        if size == 0:
            raise StatementFileError("tệp rỗng")
        session.execute(update(Reconciliation).where(Reconciliation.id == run_id)
                        .values(file_bytes=size))
    logger.info("reconciliation %s of %s queued (%s bytes)", run_id, provider, size)
    return run_id


def run_queued(gw: Gateway, *, stop: threading.Event | None = None, limit: int = 1) -> int:
    """The worker's job: take up to `limit` runs that wait (or whose worker died); run them.

    Returns how many runs were finished (done or failed).
    """
    finished = 0
    for _ in range(limit):
        if stop is not None and stop.is_set():
            break
        claim = _claim(gw)
        if claim is None:
            break
        run_id, status = claim
        try:
            _run_claimed(gw, run_id, status, stop)
            finished += 1
        except Stopped:
            _release(gw, run_id)
            break
    return finished


def resolve(gw: Gateway, item_id: int, note: str, *, by: str) -> ReconciliationItem:
    """Close a difference with a person's note; a note is never overwritten."""
    note = note.strip()
    if not note:
        raise ValidationFailed("a note is required", [FieldError("note", "say what was done")])
    with gw.sessions.begin() as session:
        item = session.get(ReconciliationItem, item_id, with_for_update=True)
        if item is None:
            raise NotFound(f"reconciliation line {item_id} not found")
        if item.result in AGREEING:
            raise Conflict("this line agrees with our records; there is nothing to resolve")
        if item.resolved_at is not None:
            raise Conflict(f"already resolved by {item.resolved_by}: {item.note}")
        item.note = note[:1000]
        item.resolved_by = by
        item.resolved_at = gw.now()
        if item.payment_id:
            payment = lock_payment(session, item.payment_id)
            record_event(session, gw, payment, "reconciliation.resolved", source=SOURCE,
                         actor=by, detail={"reconciliation_id": item.reconciliation_id,
                                           "item": item.id, "result": item.result,
                                           "note": item.note})
        session.flush()
        session.expunge(item)
        return item


# -- adapters --------------------------------------------------------------------------------


def reads_statements(adapter: Adapter) -> bool:
    return type(adapter).parse_statement_line is not Adapter.parse_statement_line


def statement_providers(gw: Gateway) -> list[str]:
    """The configured providers whose statements feegate can read."""
    return [name for name, adapter in gw.adapters.items() if reads_statements(adapter)]


def _statement_adapter(gw: Gateway, provider: str) -> Adapter:
    adapter = gw.adapter(provider)
    if not reads_statements(adapter):
        raise ValidationFailed(
            f"{provider} statements cannot be read yet",
            [FieldError("provider", f"{provider} has no statement format in feegate")],
        )
    return adapter


# -- a run's life ----------------------------------------------------------------------------


def _new_run(gw: Gateway, provider: str, filename: str, uploaded_by: str,
             period: Period | None, *, status: str) -> str:
    with gw.sessions.begin() as session:
        run = Reconciliation(
            id=public_id("rec"), provider=provider, filename=filename[:255],
            period_from=period.first if period else None,
            period_to=period.last if period else None,
            uploaded_by=uploaded_by, line_count=0, counts={}, created_at=gw.now(),
            status=status, lease_until=gw.now() + LEASE,
        )
        session.add(run)
        return run.id


def _discard(gw: Gateway, run_id: str) -> None:
    """A run refused half-way (the file broke a limit): as if it had never been uploaded."""
    _delete_items(gw, run_id)
    with gw.sessions.begin() as session:
        session.execute(delete(ReconciliationUpload)
                        .where(ReconciliationUpload.reconciliation_id == run_id))
        session.execute(delete(Reconciliation).where(Reconciliation.id == run_id))


def _delete_items(gw: Gateway, run_id: str) -> None:
    while True:  # in chunks: a long delete would hold SQLite's write lock
        with gw.sessions.begin() as session:
            ids = list(session.scalars(select(ReconciliationItem.id).where(
                ReconciliationItem.reconciliation_id == run_id).limit(CHUNK)))
            if not ids:
                return
            session.execute(delete(ReconciliationItem).where(
                ReconciliationItem.reconciliation_id == run_id,
                ReconciliationItem.id >= min(ids), ReconciliationItem.id <= max(ids)))


def _fail(gw: Gateway, run_id: str, message: str) -> None:
    _delete_items(gw, run_id)
    with gw.sessions.begin() as session:
        session.execute(delete(ReconciliationUpload)
                        .where(ReconciliationUpload.reconciliation_id == run_id))
        session.execute(update(Reconciliation).where(Reconciliation.id == run_id).values(
            status=FAILED, error=message[:500], lease_until=None, finished_at=gw.now(),
            line_count=0, lines_read=0, lines_matched=0, counts={}))
    logger.info("reconciliation %s failed: %s", run_id, message)


def _claim(gw: Gateway) -> tuple[str, str] | None:
    """One run to work on: queued, or left by a worker whose lease has passed."""
    now = gw.now()
    with gw.sessions.begin() as session:
        stmt = (select(Reconciliation)
                .where(Reconciliation.status.in_(WORKING),
                       or_(Reconciliation.status == QUEUED,
                           Reconciliation.lease_until.is_(None),
                           Reconciliation.lease_until < now))
                .order_by(Reconciliation.created_at).limit(1))
        if lock_for_update(session):
            stmt = stmt.with_for_update(skip_locked=True)
        run = session.scalars(stmt).one_or_none()
        if run is None:
            return None
        status = run.status
        run.status = FLAGGING if status == FLAGGING else PARSING
        run.lease_until = now + LEASE
        return run.id, status


def _release(gw: Gateway, run_id: str) -> None:
    with gw.sessions.begin() as session:
        session.execute(update(Reconciliation).where(Reconciliation.id == run_id)
                        .values(lease_until=gw.now()))


def _run_claimed(gw: Gateway, run_id: str, status: str, stop: threading.Event | None) -> None:
    with gw.sessions() as session:
        run = session.get(Reconciliation, run_id)
        assert run is not None
        provider, filename = run.provider, run.filename
    if status != FLAGGING:
        _delete_items(gw, run_id)  # a run taken over: start its reading again
        with gw.sessions.begin() as session:
            session.execute(update(Reconciliation).where(Reconciliation.id == run_id)
                            .values(lines_read=0, lines_matched=0, line_count=0))
        try:
            adapter = _statement_adapter(gw, provider)
            with _stored_file(gw, run_id) as stored:
                if stored is None:
                    _fail(gw, run_id, "đối soát bị gián đoạn và tệp không còn; hãy tải lên lại")
                    return
                with StatementReader(filename, stored, Limits.of(gw.settings)) as reader:
                    _read_and_match(gw, adapter, run_id, reader, stop)
        except StatementFileError as exc:
            _fail(gw, run_id, f"{filename}: {exc}")
            return
        except DomainError as exc:
            _fail(gw, run_id, str(exc))
            return
    _finish(gw, run_id, stop)


class _stored_file:  # noqa: N801 - a context manager read like a function
    """The stored upload copied to a temporary file (openpyxl needs to seek), or None."""

    def __init__(self, gw: Gateway, run_id: str) -> None:
        self.gw, self.run_id = gw, run_id
        self.file: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes] | None:
        out = tempfile.TemporaryFile(prefix="feegate-statement-")
        seq, pieces = -1, 0
        while True:
            with self.gw.sessions() as session:
                row = session.execute(
                    select(ReconciliationUpload.seq, ReconciliationUpload.data)
                    .where(ReconciliationUpload.reconciliation_id == self.run_id,
                           ReconciliationUpload.seq > seq)
                    .order_by(ReconciliationUpload.seq).limit(1)).one_or_none()
            if row is None:
                break
            seq, data = row
            out.write(data)
            pieces += 1
        if pieces == 0:
            out.close()
            return None
        out.seek(0)
        self.file = out
        return out

    def __exit__(self, *_exc: object) -> None:
        if self.file is not None:
            self.file.close()


def _finish(gw: Gateway, run_id: str, stop: threading.Event | None = None) -> None:
    _flag_differences(gw, run_id, stop)
    with gw.sessions.begin() as session:
        session.execute(delete(ReconciliationUpload)
                        .where(ReconciliationUpload.reconciliation_id == run_id))
        session.execute(update(Reconciliation).where(Reconciliation.id == run_id).values(
            status=DONE, lease_until=None, finished_at=gw.now()))


# -- reading and matching --------------------------------------------------------------------


@dataclass
class _Line:
    line_no: int
    raw: str  # JSON text
    line: StatementLine | None
    error: str = ""


def _read_and_match(gw: Gateway, adapter: Adapter, run_id: str,
                    rows: Iterable[Mapping[str, Any]],
                    stop: threading.Event | None = None) -> None:
    with gw.sessions() as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        _match_by_chunks(gw, adapter, run_id, rows, stop)
    else:
        _match_staged(gw, adapter, run_id, rows, stop)


def _chunks(adapter: Adapter, rows: Iterable[Mapping[str, Any]],
            stop: threading.Event | None) -> Iterator[list[_Line]]:
    """The statement's lines parsed CHUNK at a time, numbered as in the file (the header is
    line 1); a stop is honoured only between chunks, so no chunk is ever left half-written."""
    numbered = enumerate(rows, 2)
    while True:
        chunk = [_parse(adapter, n, row) for n, row in itertools.islice(numbered, CHUNK)]
        if not chunk:
            return
        if stop is not None and stop.is_set():
            raise Stopped
        yield chunk


def _match_by_chunks(gw: Gateway, adapter: Adapter, run_id: str,
                     rows: Iterable[Mapping[str, Any]],
                     stop: threading.Event | None = None) -> None:
    """SQLite: each chunk staged and matched in its own transaction (one writer anyway)."""
    provider = adapter.name
    refunds = _RefundPairing()
    total = 0
    for chunk in _chunks(adapter, rows, stop):
        total += len(chunk)
        with gw.sessions.begin() as session:
            refunds.pair(session, provider, chunk)
            _load_chunk(session, gw, run_id, provider, chunk, refunds)
            session.execute(update(Reconciliation).where(Reconciliation.id == run_id).values(
                lines_read=total, lines_matched=total, line_count=total,
                lease_until=gw.now() + LEASE))
    if total == 0:
        raise ValidationFailed("the statement has no lines",
                               [FieldError("file", "no line under the header row")])
    with gw.sessions.begin() as session:
        run = session.get(Reconciliation, run_id, with_for_update=lock_for_update(session))
        assert run is not None
        if run.period_from is None or run.period_to is None:
            first, last = session.execute(
                select(func.min(ReconciliationItem.occurred_at),
                       func.max(ReconciliationItem.occurred_at))
                .where(ReconciliationItem.reconciliation_id == run_id,
                       ReconciliationItem.occurred_at.is_not(None))).one()
            if first is not None and last is not None:
                run.period_from = first.astimezone(VIETNAM_TZ).date()
                run.period_to = last.astimezone(VIETNAM_TZ).date()
        period = (Period(run.period_from, run.period_to)
                  if run.period_from and run.period_to else None)
    if period is not None:
        _insert_missing(gw, run_id, provider, period)
    with gw.sessions.begin() as session:
        counts = dict.fromkeys(RESULTS, 0)
        for result, n in session.execute(
                select(ReconciliationItem.result, func.count())
                .where(ReconciliationItem.reconciliation_id == run_id)
                .group_by(ReconciliationItem.result)):
            counts[result] = int(n)
        session.execute(update(Reconciliation).where(Reconciliation.id == run_id).values(
            counts=counts, status=FLAGGING, lease_until=gw.now() + LEASE))
    logger.info("reconciliation %s of %s (%s lines): %s", run_id, provider, total,
                {k: v for k, v in counts.items() if v})


_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
_ENCODE_TEXT = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
_STR = frozenset({str})


def _raw_json(row: Mapping[str, Any]) -> str:
    """The row as JSON text; plain strings (every CSV cell) go through the C encoder."""
    if _STR.issuperset(map(type, row.values())) and _STR.issuperset(map(type, row)):
        return _ENCODE_TEXT(row)
    # a cell that is not text: a number or a date from XLSX
    return _ENCODE({str(k): _jsonable(v) for k, v in row.items()})


def _parse(adapter: Adapter, line_no: int, row: Mapping[str, Any]) -> _Line:
    raw = _raw_json(row)
    if "\\u0000" in raw:  # NUL: no database keeps it in text; the reader refuses it in files
        clean = {str(k): _jsonable(v) for k, v in row.items()}
        raw = _ENCODE({k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v
                       for k, v in clean.items()})
        return _Line(line_no, raw, None, "ô chứa ký tự NUL")
    try:
        return _Line(line_no, raw, adapter.parse_statement_line(row))
    except (MalformedMessage, NotSupported, TypeError, ValueError, KeyError) as exc:
        return _Line(line_no, raw, None, str(exc)[:500] or type(exc).__name__)


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


class _RefundPairing:
    """Refund lines, paired with our succeeded refunds: each refund once, oldest first."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.results: dict[int, tuple[str, str, int | None]] = {}  # line_no -> result

    def pair(self, session: Session, provider: str, chunk: Sequence[_Line]) -> None:
        self.results = {}
        lines = [e for e in chunk if e.line is not None and e.line.kind == "refund"]
        if not lines:
            return
        refs = sorted({e.line.provider_reference for e in lines if e.line is not None})
        attempts: dict[str, str] = {}
        for start in range(0, len(refs), 500):
            part = refs[start:start + 500]
            for attempt_id, provider_reference, reference in session.execute(
                    select(Attempt.id, Attempt.provider_reference, Attempt.reference).where(
                        Attempt.provider == provider,
                        or_(Attempt.provider_reference.in_(part), Attempt.reference.in_(part)))):
                attempts[provider_reference] = attempt_id
                attempts.setdefault(reference, attempt_id)
        candidates: dict[tuple[str, int], list[tuple[str, int]]] = {}
        ids = sorted(set(attempts.values()))
        for start in range(0, len(ids), 500):
            for refund_id, attempt_id, amount in session.execute(
                    select(Refund.id, Refund.attempt_id, Refund.amount).where(
                        Refund.attempt_id.in_(ids[start:start + 500]),
                        Refund.status == RefundStatus.SUCCEEDED.value)
                    .order_by(Refund.created_at, Refund.id)):
                candidates.setdefault((attempt_id, amount), []).append((refund_id, amount))
        for entry in lines:
            assert entry.line is not None
            owner = attempts.get(entry.line.provider_reference)
            found: tuple[str, int] | None = None
            if owner is not None:
                for refund_id, amount in candidates.get((owner, entry.line.amount), []):
                    if refund_id not in self.used:
                        found = (refund_id, amount)
                        break
            if found is None:
                # no refund of ours to compare; the payment's amount would mislead
                self.results[entry.line_no] = (
                    "refund_unknown", "no succeeded refund of this amount on this payment", None)
            else:
                self.used.add(found[0])
                self.results[entry.line_no] = (REFUND_MATCHED, "", found[1])


# What the single-chunk match (_MATCH) and the whole-statement match (_PG_MATCH) share:
# both find a staged line's attempt the same way and word a difference the same way, so
# that a statement gives the same items whichever path the worker takes. They are constants
# spliced into constant SQL (never input), hence the S608 waivers below.

# The columns every insert into reconciliation_items names, in the order its SELECT gives.
_INTO_ITEMS = """INSERT INTO reconciliation_items (reconciliation_id, line_no, kind, result,
    provider_reference, provider_txn_id, statement_amount, our_amount, occurred_at,
    attempt_id, payment_id, message, raw)"""

# The staged line (alias s) joined with its attempt by the provider's reference ...
_ATTEMPT_JOIN = """    LEFT JOIN attempts a1
        ON a1.provider = CAST(:provider AS VARCHAR) AND a1.provider_reference = s.ref"""

# ... else by our reference: the attempt's id, and what the join already found.
_ATTEMPT_COLUMNS = """        COALESCE(a1.id, (SELECT a2.id FROM attempts a2
                         WHERE a2.provider = CAST(:provider AS VARCHAR)
                           AND a2.reference = s.ref)) AS a_id,
        a1.payment_id AS a1_payment, a1.amount AS a1_amount, a1.status AS a1_status"""

# The attempt's payment, amount and status, from the join or, when only our reference
# matched, read by id (a CTE body over j).
_ATTEMPT_OF_LINE = """    SELECT j.*,
        CASE WHEN j.a1_payment IS NOT NULL THEN j.a1_payment
             ELSE (SELECT x.payment_id FROM attempts x WHERE x.id = j.a_id) END AS a_payment,
        CASE WHEN j.a1_payment IS NOT NULL THEN j.a1_amount
             ELSE (SELECT x.amount FROM attempts x WHERE x.id = j.a_id) END AS a_amount,
        CASE WHEN j.a1_payment IS NOT NULL THEN j.a1_status
             ELSE (SELECT x.status FROM attempts x WHERE x.id = j.a_id) END AS a_status
    FROM j"""

# Our amount for an item: a result settled before matching (a refund line) brings its own.
_OUR_AMOUNT = "CASE WHEN m.pre_result IS NOT NULL THEN m.pre_our_amount ELSE m.a_amount END"

# The note a difference carries; a result settled before matching brings its own.
_MESSAGE = """CASE WHEN m.pre_result IS NOT NULL THEN m.pre_message
         WHEN m.result = 'unknown' THEN CAST(:msg_unknown AS VARCHAR)
         WHEN m.result = 'duplicate' THEN CAST(:msg_duplicate AS VARCHAR)
         WHEN m.result = 'not_paid_here'
              THEN 'the provider says paid; our attempt is ' || m.a_status
         WHEN m.result = 'amount_differs'
              THEN 'statement ' || CAST(m.amount AS TEXT) || ' đồng, ours '
                   || CAST(m.a_amount AS TEXT) || ' đồng'
         ELSE '' END"""


_MATCH = text(f"""
WITH j AS MATERIALIZED (
    SELECT s.line_no, s.kind, s.ref, s.txn, s.amount, s.occurred_at, s.raw, s.earlier,
        s.pre_result, s.pre_message, s.pre_our_amount,
{_ATTEMPT_COLUMNS}
    FROM recon_stage s
{_ATTEMPT_JOIN}
), k AS MATERIALIZED (
{_ATTEMPT_OF_LINE}
), m AS MATERIALIZED (
    SELECT k.*,
        CASE
            WHEN k.pre_result IS NOT NULL THEN k.pre_result
            WHEN k.a_id IS NULL THEN 'unknown'
            WHEN k.earlier = 1 OR EXISTS (
                SELECT 1 FROM reconciliation_items p
                WHERE p.reconciliation_id = CAST(:run AS VARCHAR)
                  AND p.payment_id = k.a_payment AND p.kind = 'payment'
                  AND p.provider_reference = k.ref) THEN 'duplicate'
            WHEN k.a_status <> CAST(:succeeded AS VARCHAR) THEN 'not_paid_here'
            WHEN k.a_amount <> k.amount THEN 'amount_differs'
            ELSE 'matched'
        END AS result
    FROM k
)
{_INTO_ITEMS}
SELECT CAST(:run AS VARCHAR), m.line_no, m.kind, m.result, m.ref, m.txn, m.amount,
    {_OUR_AMOUNT},
    m.occurred_at, m.a_id, m.a_payment,
    {_MESSAGE},
    m.raw
FROM m
ORDER BY m.line_no
""")  # noqa: S608 - constant fragments, no input



def _stage_rows(chunk: Sequence[_Line], refunds: _RefundPairing,
                sqlite: bool) -> Iterator[tuple[Any, ...]]:
    seen: set[str] = set()  # payment references earlier in this chunk
    for entry in chunk:
        line = entry.line
        if line is None:
            yield (entry.line_no, "payment", None, None, None, None, entry.raw, 0,
                   "unreadable", entry.error, None)
            continue
        ref = line.provider_reference.replace("\x00", "")[:128]
        txn = (line.provider_txn_id or "").replace("\x00", "")[:64] or None
        when = line.occurred_at
        occurred: Any = when
        if when is not None:
            if when.tzinfo is None:  # an adapter's naive time is Vietnam time
                when = when.replace(tzinfo=VIETNAM_TZ)
            occurred = when.astimezone(UTC)
            if sqlite:
                occurred = occurred.replace(tzinfo=None).isoformat(" ", "microseconds")
        earlier = 0
        pre: tuple[str | None, str | None, int | None] = (None, None, None)
        if line.kind == "refund":
            pre = refunds.results[entry.line_no]
        else:
            earlier = 1 if ref in seen else 0
            seen.add(ref)
        yield (entry.line_no, line.kind, ref, txn, line.amount, occurred, entry.raw, earlier,
               *pre)


_SQLITE_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS recon_stage (line_no INTEGER, kind TEXT, ref TEXT,"
    " txn TEXT, amount BIGINT, occurred_at DATETIME, raw TEXT, earlier INTEGER,"
    " pre_result TEXT, pre_message TEXT, pre_our_amount BIGINT)")
_SQLITE_FILL = ("INSERT INTO recon_stage (line_no, kind, ref, txn, amount, occurred_at, raw,"
                " earlier, pre_result, pre_message, pre_our_amount)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_PG_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS recon_stage (line_no integer, kind text, ref text,"
    " txn text, amount bigint, occurred_at timestamptz, raw json, earlier integer,"
    " pre_result text, pre_message text, pre_our_amount bigint) ON COMMIT DELETE ROWS")
_PG_FILL = ("COPY recon_stage (line_no, kind, ref, txn, amount, occurred_at, raw, earlier,"
            " pre_result, pre_message, pre_our_amount) FROM STDIN")
_EMPTY_STAGE = "DELETE FROM recon_stage"


def _load_chunk(session: Session, gw: Gateway, run_id: str, provider: str,
                chunk: Sequence[_Line], refunds: _RefundPairing) -> None:
    """One chunk of lines into the temporary table, then into items, matched, in SQL."""
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    rows = _stage_rows(chunk, refunds, sqlite)
    if sqlite:
        connection.exec_driver_sql(_SQLITE_STAGE)
        connection.exec_driver_sql(_EMPTY_STAGE)
        connection.exec_driver_sql(_SQLITE_FILL, list(rows))
    else:
        connection.exec_driver_sql(_PG_STAGE)
        connection.exec_driver_sql("SET LOCAL jit = off")  # compiling costs more than it saves
        connection.exec_driver_sql("SET LOCAL work_mem = '64MB'")  # the chunk's sort in memory
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(_PG_FILL) as copy:
            for row in rows:
                copy.write_row(row)
        connection.exec_driver_sql("ANALYZE recon_stage")
    connection.execute(_MATCH, {
        "run": run_id, "provider": provider, "succeeded": AttemptStatus.SUCCEEDED.value,
        "msg_unknown": MSG_UNKNOWN, "msg_duplicate": MSG_DUPLICATE})
    if sqlite:
        connection.exec_driver_sql(_EMPTY_STAGE)


# -- PostgreSQL: stage the whole statement, then match it in one pass -------------------------

_PG_LINES = (
    "CREATE TEMP TABLE recon_lines (line_no integer, kind text, ref text, txn text,"
    " amount bigint, occurred_at timestamptz, raw text, pre_result text, pre_message text,"
    " pre_our_amount bigint)")
_PG_COPY_LINES = ("COPY recon_lines (line_no, kind, ref, txn, amount, occurred_at, raw,"
                  " pre_result, pre_message, pre_our_amount) FROM STDIN")
_PG_DROP = "DROP TABLE IF EXISTS recon_lines, recon_matched"

# One hash join of the staged lines with the attempts (by the provider's reference, else by
# ours), duplicates from the staged lines themselves (a reference a payment line of the
# statement already gave), the result and its message; into a temporary table the items,
# the "missing" anti-join and the counts are then read from.
_PG_MATCH = text(f"""
CREATE TEMP TABLE recon_matched AS
WITH again AS (
    SELECT ref, min(line_no) AS first_line FROM recon_lines
    WHERE kind = 'payment' AND ref IS NOT NULL
    GROUP BY ref HAVING count(*) > 1
), j AS (
    SELECT s.line_no, s.kind, s.ref, s.txn, s.amount, s.occurred_at, s.raw,
        s.pre_result, s.pre_message, s.pre_our_amount,
        (s.kind = 'payment' AND g.first_line < s.line_no) AS earlier,
{_ATTEMPT_COLUMNS}
    FROM recon_lines s
{_ATTEMPT_JOIN}
    LEFT JOIN again g ON g.ref = s.ref
), k AS (
{_ATTEMPT_OF_LINE}
), m AS (
    SELECT k.*,
        CASE
            WHEN k.pre_result IS NOT NULL THEN k.pre_result
            WHEN k.a_id IS NULL THEN 'unknown'
            WHEN k.earlier THEN 'duplicate'
            WHEN k.a_status <> CAST(:succeeded AS VARCHAR) THEN 'not_paid_here'
            WHEN k.a_amount <> k.amount THEN 'amount_differs'
            ELSE 'matched'
        END AS result
    FROM k
)
SELECT m.line_no, m.kind, m.result, m.ref, m.txn, m.amount,
    {_OUR_AMOUNT} AS our_amount,
    m.occurred_at, m.a_id, m.a_payment,
    {_MESSAGE} AS message,
    m.raw
FROM m
""")  # noqa: S608 - constant fragments, no input

_PG_ITEMS = text(f"""
{_INTO_ITEMS}
SELECT CAST(:run AS VARCHAR), line_no, kind, result, ref, txn, amount, our_amount,
    occurred_at, a_id, a_payment, message, CAST(raw AS json)
FROM recon_matched WHERE line_no >= :low AND line_no < :high
ORDER BY line_no
""")  # noqa: S608 - constant fragments, no input

_PG_MISSING = "\n" + _INTO_ITEMS + """
SELECT CAST(:run AS VARCHAR), NULL, 'payment', 'missing', a.provider_reference,
    a.provider_txn_id, NULL,
    a.amount, a.paid_at, a.id, a.payment_id, CAST(:message AS VARCHAR), '{}'
FROM attempts a
WHERE a.provider = :provider AND a.status = :succeeded
  AND a.paid_at >= :start AND a.paid_at < :end
  AND NOT EXISTS (SELECT 1 FROM recon_matched m
                  WHERE m.a_id = a.id AND m.kind = 'payment')
ORDER BY a.paid_at, a.id
"""  # noqa: S608 - constant fragments, no input

ITEMS_CHUNK = 4 * CHUNK  # matched lines written into reconciliation_items per transaction


def _pg_rows(chunk: Sequence[_Line], refunds: _RefundPairing) -> Iterator[tuple[Any, ...]]:
    for row in _stage_rows(chunk, refunds, sqlite=False):
        yield row[:7] + row[8:]  # the chunk's "earlier" is worked out over the whole file


def _match_staged(gw: Gateway, adapter: Adapter, run_id: str,
                  rows: Iterable[Mapping[str, Any]],
                  stop: threading.Event | None = None) -> None:
    """PostgreSQL: every line COPYed into a temporary table first (a chunk per transaction,
    no index, nothing locked but the run's row for its progress), then matched by one
    statement (one hash join with the attempts, duplicates by a grouping of the staged
    lines) into a second temporary table; the items are written from it by line ranges
    (short transactions), and "missing" is one anti-join against it.

    One connection holds the temporary tables for the whole run; they are dropped at the
    end, and a file refused half-way leaves no item behind (none is written before the
    last line has been read).
    """
    provider = adapter.name
    engine = gw.sessions.kw["bind"]
    with engine.connect() as connection, gw.sessions(bind=connection) as session:
        try:
            with session.begin():
                session.connection().exec_driver_sql(_PG_DROP)
                session.connection().exec_driver_sql(_PG_LINES)
            total = _stage_all(gw, session, adapter, run_id, rows, stop)
            if total == 0:
                raise ValidationFailed("the statement has no lines",
                                       [FieldError("file", "no line under the header row")])
            _match_all(gw, session, run_id, provider, total, stop)
        finally:
            session.rollback()
            with session.begin():
                session.connection().exec_driver_sql(_PG_DROP)


def _tune(session: Session) -> None:
    connection = session.connection()
    connection.exec_driver_sql("SET LOCAL jit = off")  # compiling costs more than it saves
    connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")  # the hash join in memory


def _stage_all(gw: Gateway, session: Session, adapter: Adapter, run_id: str,
               rows: Iterable[Mapping[str, Any]], stop: threading.Event | None) -> int:
    refunds = _RefundPairing()
    total = 0
    for chunk in _chunks(adapter, rows, stop):
        total += len(chunk)
        with session.begin():
            refunds.pair(session, adapter.name, chunk)
            driver = session.connection().connection.driver_connection
            cursor = driver.cursor()  # type: ignore[union-attr]
            with cursor.copy(_PG_COPY_LINES) as copy:
                for row in _pg_rows(chunk, refunds):
                    copy.write_row(row)
            session.execute(update(Reconciliation).where(Reconciliation.id == run_id).values(
                lines_read=total, line_count=total, lease_until=gw.now() + LEASE))
    return total


def _match_all(gw: Gateway, session: Session, run_id: str, provider: str, total: int,
               stop: threading.Event | None) -> None:
    with session.begin():
        _tune(session)
        connection = session.connection()
        connection.exec_driver_sql("ANALYZE recon_lines")
        connection.execute(_PG_MATCH, {
            "provider": provider, "succeeded": AttemptStatus.SUCCEEDED.value,
            "msg_unknown": MSG_UNKNOWN, "msg_duplicate": MSG_DUPLICATE})
        connection.exec_driver_sql("DROP TABLE recon_lines")
        connection.exec_driver_sql("CREATE INDEX ON recon_matched (line_no)")
        connection.exec_driver_sql("ANALYZE recon_matched")
        low, high = connection.execute(text(
            "SELECT min(line_no), max(line_no) FROM recon_matched")).one()
    done = 0
    for start in range(int(low), int(high) + 1, ITEMS_CHUNK):
        if stop is not None and stop.is_set():
            raise Stopped
        with session.begin():
            _tune(session)
            done += session.connection().execute(
                _PG_ITEMS, {"run": run_id, "low": start, "high": start + ITEMS_CHUNK}).rowcount
            session.execute(update(Reconciliation).where(Reconciliation.id == run_id).values(
                lines_matched=min(done, total), lease_until=gw.now() + LEASE))
    with session.begin():
        _tune(session)
        connection = session.connection()
        run = session.get(Reconciliation, run_id, with_for_update=True)
        assert run is not None
        if run.period_from is None or run.period_to is None:
            first, last = connection.execute(text(
                "SELECT min(occurred_at), max(occurred_at) FROM recon_matched")).one()
            if first is not None and last is not None:
                run.period_from = first.astimezone(VIETNAM_TZ).date()
                run.period_to = last.astimezone(VIETNAM_TZ).date()
        period = (Period(run.period_from, run.period_to)
                  if run.period_from and run.period_to else None)
        counts = dict.fromkeys(RESULTS, 0)
        for result, n in connection.execute(text(
                "SELECT result, count(*) FROM recon_matched GROUP BY result")):
            counts[str(result)] = int(n)
        if period is not None:
            start_at, end_at = period.utc_bounds()
            times = (bindparam("start", type_=UTCDateTime()),
                     bindparam("end", type_=UTCDateTime()))
            counts["missing"] = connection.execute(
                text(_PG_MISSING).bindparams(*times),
                {"run": run_id, "provider": provider, "message": MSG_MISSING,
                 "succeeded": AttemptStatus.SUCCEEDED.value, "start": start_at,
                 "end": end_at}).rowcount
        run.counts = counts
        run.status = FLAGGING
        run.lines_matched = total
        run.lease_until = gw.now() + LEASE
    logger.info("reconciliation %s of %s (%s lines): %s", run_id, provider, total,
                {k: v for k, v in counts.items() if v})


_MISSING_SQL = "\n" + _INTO_ITEMS + """
SELECT CAST(:run AS VARCHAR), NULL, 'payment', 'missing', a.provider_reference,
    a.provider_txn_id, NULL,
    a.amount, a.paid_at, a.id, a.payment_id, CAST(:message AS VARCHAR), '{{}}'
FROM attempts a
WHERE a.provider = :provider AND a.status = :succeeded
  AND a.paid_at >= :start AND a.paid_at < :end {range}
  AND NOT EXISTS (SELECT 1 FROM reconciliation_items i
                  WHERE i.reconciliation_id = CAST(:run AS VARCHAR) AND i.payment_id = a.payment_id
                    AND i.attempt_id = a.id AND i.kind = 'payment')
ORDER BY a.paid_at, a.id
"""  # noqa: S608 - constant fragments, no input


def _insert_missing(gw: Gateway, run_id: str, provider: str, period: Period) -> None:
    """Our paid attempts in the period that no line names.

    PostgreSQL: one INSERT … SELECT (an anti-join; it reads attempts without locking any
    row, so callbacks go on meanwhile). SQLite, where any write holds the database: a
    range of attempt ids per transaction.
    """
    start, end = period.utc_bounds()
    values = {"run": run_id, "provider": provider, "message": MSG_MISSING,
              "succeeded": AttemptStatus.SUCCEEDED.value, "start": start, "end": end}
    times = (bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime()))
    with gw.sessions() as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
    if not sqlite:
        with gw.sessions.begin() as session:
            session.execute(text(_MISSING_SQL.format(range="")).bindparams(*times), values)
        return
    ranged = text(_MISSING_SQL.format(range="AND a.id > :after AND a.id <= :upto")
                  ).bindparams(*times)
    after = ""
    while True:
        with gw.sessions.begin() as session:
            upto = session.scalar(select(Attempt.id).where(Attempt.id > after)
                                  .order_by(Attempt.id).offset(CHUNK - 1).limit(1))
            session.execute(ranged, {**values, "after": after, "upto": upto or "\uffff"})
            session.execute(update(Reconciliation).where(Reconciliation.id == run_id)
                            .values(lease_until=gw.now() + LEASE))
        if upto is None:
            return
        after = upto


# -- flagging --------------------------------------------------------------------------------


def _flag_differences(gw: Gateway, run_id: str, stop: threading.Event | None = None) -> None:
    """Each payment a difference names is flagged for staff and told on its trail, once.

    FLAG_CHUNK payments per transaction, in id order (the order every bulk lock takes);
    `flagged_through` records the last one done, so a run taken over goes on from there.
    """
    with gw.sessions() as session:
        run = session.get(Reconciliation, run_id)
        assert run is not None
        provider, actor, cursor = run.provider, run.uploaded_by, run.flagged_through or ""
    differing = (ReconciliationItem.reconciliation_id == run_id,
                 ReconciliationItem.payment_id.is_not(None),
                 ReconciliationItem.result.not_in(AGREEING))
    while True:
        if stop is not None and stop.is_set():
            raise Stopped
        with gw.sessions.begin() as session:
            payment_ids: list[str] = [pid for pid in session.scalars(
                select(ReconciliationItem.payment_id).where(
                    *differing, ReconciliationItem.payment_id > cursor)
                .group_by(ReconciliationItem.payment_id)
                .order_by(ReconciliationItem.payment_id).limit(FLAG_CHUNK)) if pid]
            if not payment_ids:
                return
            if session.get_bind().dialect.name == "postgresql":
                _flag_in_sql(session, gw, run_id, provider, actor, payment_ids)
                cursor = payment_ids[-1]
                session.execute(update(Reconciliation).where(Reconciliation.id == run_id)
                                .values(flagged_through=cursor, lease_until=gw.now() + LEASE))
                continue
            by_payment: dict[str, list[tuple[int, str]]] = {}
            for item_id, payment_id, result in session.execute(
                    select(ReconciliationItem.id, ReconciliationItem.payment_id,
                           ReconciliationItem.result)
                    .where(*differing, ReconciliationItem.payment_id.in_(payment_ids))
                    .order_by(ReconciliationItem.id)):
                by_payment.setdefault(str(payment_id), []).append((item_id, result))
            stmt = (select(Payment).where(Payment.id.in_(payment_ids)).order_by(Payment.id)
                    .execution_options(populate_existing=True))
            if lock_for_update(session):
                stmt = stmt.with_for_update()
            for payment in session.scalars(stmt):
                found = by_payment.get(payment.id, [])
                payment.add_flag(Flag.STATEMENT_DIFFERENCE)
                record_event(session, gw, payment, "reconciliation.difference", source=SOURCE,
                             actor=actor, detail={
                                 "reconciliation_id": run_id, "provider": provider,
                                 "results": [result for _id, result in found],
                                 "items": [item_id for item_id, _r in found]})
            cursor = payment_ids[-1]
            session.execute(update(Reconciliation).where(Reconciliation.id == run_id).values(
                flagged_through=cursor, lease_until=gw.now() + LEASE))


_PG_LOCK_PAYMENTS = text(
    "SELECT id FROM payments WHERE id IN :ids ORDER BY id FOR UPDATE"
).bindparams(bindparam("ids", expanding=True))
_PG_FLAG = text("""
UPDATE payments SET
    flags = CASE WHEN CAST(COALESCE(flags, '[]') AS jsonb) @> CAST(:flag_list AS jsonb)
                 THEN flags
                 ELSE CAST(CAST(COALESCE(flags, '[]') AS jsonb) || CAST(:flag_list AS jsonb)
                           AS json) END,
    needs_review = true, updated_at = :now
WHERE id IN :ids
  AND NOT (needs_review AND CAST(COALESCE(flags, '[]') AS jsonb) @> CAST(:flag_list AS jsonb))
""").bindparams(bindparam("ids", expanding=True), bindparam("now", type_=UTCDateTime()))
_PG_DIFFERENCE_EVENTS = text("""
INSERT INTO payment_events (payment_id, attempt_id, kind, from_status, to_status, source,
    actor, detail, created_at)
SELECT i.payment_id, NULL, 'reconciliation.difference', NULL, NULL, :source, :actor,
    json_build_object('reconciliation_id', CAST(:run AS VARCHAR),
                      'provider', CAST(:provider AS VARCHAR),
                      'results', json_agg(i.result ORDER BY i.id),
                      'items', json_agg(i.id ORDER BY i.id)),
    :now
FROM reconciliation_items i JOIN payments p ON p.id = i.payment_id
WHERE i.reconciliation_id = CAST(:run AS VARCHAR) AND i.payment_id IN :ids
  AND i.result NOT IN ('matched', 'refund_matched')
GROUP BY i.payment_id
ORDER BY i.payment_id
""").bindparams(bindparam("ids", expanding=True), bindparam("now", type_=UTCDateTime()))


def _flag_in_sql(session: Session, gw: Gateway, run_id: str, provider: str, actor: str,
                 payment_ids: list[str]) -> None:
    """PostgreSQL: what the loop over payments does, in three statements for the chunk.

    The rows are locked in id order first (as every bulk lock takes them); a payment
    already flagged is not written again (as the ORM would not), and each gets one
    `reconciliation.difference` event naming its differing lines in line order.
    """
    now = gw.now()
    session.execute(_PG_LOCK_PAYMENTS, {"ids": payment_ids})
    session.execute(_PG_FLAG, {"ids": payment_ids, "now": now,
                               "flag_list": json.dumps([Flag.STATEMENT_DIFFERENCE.value])})
    session.execute(_PG_DIFFERENCE_EVENTS, {
        "ids": payment_ids, "now": now, "run": run_id, "provider": provider,
        "actor": actor, "source": SOURCE})
