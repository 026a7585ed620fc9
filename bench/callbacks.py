"""Signed sandbox callbacks through POST /webhooks/sandbox over HTTP.

The attempts are made first through the services (`create_payment`, then `start_attempt`
on the sandbox provider); each callback then travels the whole inbound path: the raw
callback is stored, the signature checked, `apply_result` moves the attempt and the
payment under the row lock and writes the audit events and the outbox row, the callback
row is finished, the provider gets its acknowledgement.

1. N callbacks, each for a different attempt, one after another;
2. N more, for N other attempts, from 4 client threads at once;
3. the same callback 20 times at once (a provider retrying in a hurry), R rounds on R
   fresh attempts: how long the 20 answers take, and that exactly one of them applies.

    python -m bench.callbacks [--n 500] [--threads 4] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections import Counter

import requests
from sqlalchemy import func, select

from adapters.sandbox import SIGNATURE_HEADER, SandboxAdapter
from bench import (
    AMOUNT,
    Timing,
    dispose,
    free_port,
    fresh_database,
    full_size,
    header,
    live_server,
    make_client,
    make_gateway,
    make_procedure,
    ms,
    payment_body,
    peak_rss_mb,
    percentile,
    quiet,
)
from payments.models import Attempt, Client, Outbox, PaymentEvent
from payments.schemas import PaymentCreate
from payments.services.attempts import start_attempt
from payments.services.gateway import Gateway
from payments.services.payments import create_payment

SAME_AT_ONCE = 20


def open_attempts(gw: Gateway, client_id: str, count: int, tag: str) -> list[str]:
    """`count` payments, each with one pending sandbox attempt; their provider references."""
    references = []
    for n in range(count):
        with gw.sessions.begin() as session:
            client = session.get(Client, client_id)
            assert client is not None
            payment = create_payment(session, gw, client,
                                     PaymentCreate.model_validate(payment_body(n, tag)))
            payment_id = payment.id
        attempt_id = start_attempt(gw, payment_id, "sandbox", client_ip="127.0.0.1")
        with gw.sessions() as session:
            reference = session.scalar(
                select(Attempt.provider_reference).where(Attempt.id == attempt_id))
        assert reference is not None
        references.append(reference)
    return references


def signed(adapter: SandboxAdapter, reference: str, n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({
        "reference": reference, "amount": str(AMOUNT), "status": "paid", "code": "00",
        "message": "", "transaction_id": f"SBX{n:010d}", "paid_at": "",
    }).encode()
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: adapter.sign_body(body)}


def post_each(url: str, bodies: list[tuple[bytes, dict[str, str]]], latencies: list[float],
              results: Counter[str]) -> None:
    with requests.Session() as http:
        for body, headers in bodies:
            started = time.perf_counter()
            answer = http.post(url, data=body, headers=headers, timeout=60)
            latencies.append(time.perf_counter() - started)
            results[f"{answer.status_code} {answer.json().get('result')}"] += 1


def run_sequential(url: str, bodies: list[tuple[bytes, dict[str, str]]]) -> Timing:
    latencies: list[float] = []
    results: Counter[str] = Counter()
    started = time.perf_counter()
    post_each(url, bodies, latencies, results)
    elapsed = time.perf_counter() - started
    expect(results, {"200 recorded": len(bodies)})
    return Timing(len(bodies), elapsed, tuple(latencies))


def run_threads(url: str, bodies: list[tuple[bytes, dict[str, str]]], threads: int) -> Timing:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    results: list[Counter[str]] = [Counter() for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def work(k: int) -> None:
        barrier.wait(timeout=30)
        post_each(url, bodies[k::threads], latencies[k], results[k])

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=30)
    started = time.perf_counter()
    for worker in workers:
        worker.join(timeout=600)
    elapsed = time.perf_counter() - started
    expect(sum(results, Counter()), {"200 recorded": len(bodies)})
    merged = tuple(x for own in latencies for x in own)
    return Timing(len(merged), elapsed, merged)


def same_at_once(url: str, body: bytes, headers: dict[str, str]) -> tuple[float, list[float],
                                                                           Counter[str]]:
    """SAME_AT_ONCE threads post the same callback together; (wall time, latencies, answers)."""
    barrier = threading.Barrier(SAME_AT_ONCE + 1)
    latencies: list[float] = []
    results: Counter[str] = Counter()
    lock = threading.Lock()
    sessions = [requests.Session() for _ in range(SAME_AT_ONCE)]
    for http in sessions:  # connect first, so the round times callbacks, not TCP handshakes
        http.get(url.rsplit("/webhooks", 1)[0] + "/healthz", timeout=10)

    def deliver(http: requests.Session) -> None:
        barrier.wait(timeout=30)
        started = time.perf_counter()
        answer = http.post(url, data=body, headers=headers, timeout=60)
        took = time.perf_counter() - started
        with lock:
            latencies.append(took)
            results[f"{answer.status_code} {answer.json().get('result')}"] += 1

    threads = [threading.Thread(target=deliver, args=(http,)) for http in sessions]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=30)
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=120)
    wall = time.perf_counter() - started
    for http in sessions:
        http.close()
    return wall, latencies, results


def expect(results: Counter[str], wanted: dict[str, int]) -> None:
    if dict(results) != wanted:
        raise RuntimeError(f"answers {dict(results)}, expected {wanted}")


def main(argv: list[str] | None = None) -> None:
    big = full_size()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=2000 if big else 500,
                        help="callbacks per phase (default 500, 2000 with FEEGATE_BENCH_FULL=1)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=20 if big else 5,
                        help=f"rounds of {SAME_AT_ONCE} identical callbacks")
    args = parser.parse_args(argv)
    quiet()
    with fresh_database("callbacks") as url:
        port = free_port()
        gw = make_gateway(url, port)
        make_procedure(gw)
        client = make_client(gw)
        adapter = gw.adapters["sandbox"]
        assert isinstance(adapter, SandboxAdapter)
        header("callbacks: POST /webhooks/sandbox, werkzeug threaded server in this process",
               url, n=args.n, threads=args.threads, rounds=args.rounds)

        started = time.perf_counter()
        seq_refs = open_attempts(gw, client.id, args.n, "seq")
        par_refs = open_attempts(gw, client.id, args.n, "par")
        same_refs = open_attempts(gw, client.id, args.rounds, "same")
        made = Timing(len(seq_refs) + len(par_refs) + len(same_refs),
                      time.perf_counter() - started)
        print(f"  {'setup: payment + attempt':<30}{made.line('pairs/s')}  "
              f"(create_payment + start_attempt, no HTTP)", flush=True)

        with live_server(gw, port) as base:
            endpoint = f"{base}/webhooks/sandbox"
            seq = run_sequential(endpoint, [signed(adapter, r, n) for n, r in enumerate(seq_refs)])
            print(f"  {'sequential, 1 connection':<30}{seq.line('applied/s')}", flush=True)
            par = run_threads(endpoint, [signed(adapter, r, n) for n, r in enumerate(par_refs)],
                              args.threads)
            print(f"  {f'{args.threads} client threads':<30}{par.line('applied/s')}", flush=True)

            walls: list[float] = []
            every: list[float] = []
            for n, reference in enumerate(same_refs):
                wall, latencies, results = same_at_once(endpoint, *signed(adapter, reference, n))
                expect(results, {"200 recorded": 1, "200 already_confirmed": SAME_AT_ONCE - 1})
                walls.append(wall)
                every.extend(latencies)
            print(f"  {f'{SAME_AT_ONCE} identical at once':<30}{len(walls)} rounds: all "
                  f"{SAME_AT_ONCE} answered in median {ms(statistics.median(walls))}, "
                  f"max {ms(max(walls))}; per callback median {ms(statistics.median(every))}, "
                  f"p95 {ms(percentile(every, 95))}, max {ms(max(every))}", flush=True)

        with gw.sessions() as session:
            paid = session.scalar(select(func.count()).select_from(Attempt)
                                  .where(Attempt.status == "succeeded"))
            notes = session.scalar(select(func.count()).select_from(Outbox))
            moves = session.scalar(select(func.count()).select_from(PaymentEvent)
                                   .where(PaymentEvent.kind == "attempt.status"))
        wanted = 2 * args.n + args.rounds
        if not paid == notes == moves == wanted:
            raise RuntimeError(f"{paid} attempts paid, {notes} notifications, {moves} moves; "
                               f"{wanted} expected of each")
        print(f"  check: {paid} attempts paid, {notes} notifications queued, {moves} attempt "
              f"moves (one per attempt: the {SAME_AT_ONCE}-at-once rounds applied once each)")
        print(f"  peak RSS of this process (clients + server): {peak_rss_mb():.0f} MiB",
              flush=True)
        dispose(gw)


if __name__ == "__main__":
    main()
