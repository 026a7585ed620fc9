"""Walking the flow over real HTTP, and reading what it wrote.

A tiny browser for the citizen's flow: `requests`, with forms read from the HTML.

checkout page -> POST /pay/{id}/start -> 303 to the sandbox page -> POST its form with a
choice -> the sandbox calls /webhooks/sandbox over HTTP -> 303 to /pay/return/sandbox.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import requests
from sqlalchemy import func, select

from payments.models import Outbox, PaymentEvent, ProviderCallback
from payments.services.gateway import Gateway

TIMEOUT = 30


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class FormParser(HTMLParser):
    """Collects every <form> with its hidden/text inputs and its submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            )
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1].buttons.append((a["name"], a.get("value", "")))


def forms_of(html: str) -> list[Form]:
    parser = FormParser()
    parser.feed(html)
    return parser.forms


def submit(page_url: str, form: Form, extra: dict[str, str] | None = None) -> requests.Response:
    """Submit `form` as a browser would (no redirect followed)."""
    target = urljoin(page_url, form.action) if form.action else page_url
    data = {**form.fields, **(extra or {})}
    return requests.request(
        form.method.upper(), target, data=data, allow_redirects=False, timeout=TIMEOUT
    )


def start_sandbox(base_url: str, payment_id: str, *, lang: str | None = None) -> requests.Response:
    """Open the checkout page and press the sandbox button; answers the 303 (or an error page)."""
    page_url = f"{base_url}/pay/{payment_id}" + (f"?lang={lang}" if lang else "")
    page = requests.get(page_url, timeout=TIMEOUT)
    assert page.status_code == 200, page.text
    form = next(f for f in forms_of(page.text) if f.fields.get("provider") == "sandbox")
    return submit(page_url, form)


def choose(sandbox_url: str, choice: str) -> requests.Response:
    """On the sandbox's hosted page, press pay / fail / cancel; answers the 303 back."""
    page = requests.get(sandbox_url, timeout=TIMEOUT)
    assert page.status_code == 200, page.text
    (form,) = forms_of(page.text)
    assert ("choice", choice) in form.buttons, form.buttons
    return submit(sandbox_url, form, {"choice": choice})


@dataclass
class Walk:
    sandbox_url: str
    back: requests.Response  # the sandbox's 303 to /pay/return/sandbox
    result: requests.Response  # the result page


def pay_through_sandbox(base_url: str, payment_id: str, choice: str = "pay") -> Walk:
    started = start_sandbox(base_url, payment_id)
    assert started.status_code == 303, started.text
    sandbox_url = started.headers["Location"]
    back = choose(sandbox_url, choice)
    assert back.status_code == 303, back.text
    result = requests.get(back.headers["Location"], timeout=TIMEOUT)
    return Walk(sandbox_url, back, result)


def api(base_url: str, method: str, path: str, key: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{base_url}{path}", headers=headers, timeout=TIMEOUT, **kwargs)


# -- reading what the flow wrote ----------------------------------------------------------


def events(gw: Gateway, payment_id: str, kind: str | None = None) -> list[PaymentEvent]:
    with gw.sessions() as session:
        stmt = select(PaymentEvent).where(PaymentEvent.payment_id == payment_id)
        if kind:
            stmt = stmt.where(PaymentEvent.kind == kind)
        return list(session.scalars(stmt.order_by(PaymentEvent.id)))


def moves(gw: Gateway, payment_id: str, kind: str) -> list[tuple[str | None, str | None]]:
    """(from, to) of every `attempt.status` or `payment.status` event, in order."""
    return [(e.from_status, e.to_status) for e in events(gw, payment_id, kind)]


def outbox(gw: Gateway, payment_id: str) -> list[Outbox]:
    with gw.sessions() as session:
        return list(
            session.scalars(
                select(Outbox)
                .where(Outbox.payment_id == payment_id)
                .order_by(Outbox.created_at, Outbox.id)
            )
        )


def outbox_types(gw: Gateway, payment_id: str) -> list[str]:
    return sorted(row.type for row in outbox(gw, payment_id))


def callbacks(
    gw: Gateway, provider: str = "sandbox", kind: str | None = None
) -> list[ProviderCallback]:
    with gw.sessions() as session:
        stmt = select(ProviderCallback).where(ProviderCallback.provider == provider)
        if kind:
            stmt = stmt.where(ProviderCallback.kind == kind)
        return list(session.scalars(stmt.order_by(ProviderCallback.id)))


def count(gw: Gateway, model: type[Any]) -> int:
    with gw.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def post_at_once(
    url: str, times: int, *, json: dict[str, Any], headers: dict[str, str]
) -> tuple[list[tuple[int, dict[str, Any]]], list[BaseException]]:
    """The same POST sent by `times` threads released together (a barrier), as portals'
    retries race in production: each answer's status and JSON body, and whatever a thread
    raised (a test wants none), so that a race test only states what it expects."""
    barrier = threading.Barrier(times)
    answers: list[tuple[int, dict[str, Any]]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def send() -> None:
        try:
            barrier.wait(timeout=30)
            response = requests.post(url, json=json, headers=headers, timeout=120)
            with lock:
                answers.append((response.status_code, response.json()))
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    return answers, errors
