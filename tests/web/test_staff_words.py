"""Staff pages speak the officers' words: flags in Vietnamese (no raw `double_payment`),
booleans as Có/Không, the trail's stored details as readable text (no `\\u1ecb`)."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import update

from payments.models import Payment, PaymentEvent
from payments.services.gateway import Gateway
from tests.factories import create_payment, make_api_client
from tests.flow import pay_through_sandbox
from tests.web.test_staff import make_user, sign_in


def visible(html: str) -> str:
    """The text a reader sees: tags (and their attributes) removed."""
    return re.sub(r"<[^>]+>", " ", html)


def test_flags_booleans_and_details_are_in_words(
    http: FlaskClient, gw: Gateway, base_url: str
) -> None:
    client = make_api_client(gw)
    payment = create_payment(http, client, reference="HS-CO-2-LAN")
    plain = create_payment(http, client, reference="HS-BINH-THUONG")
    pay_through_sandbox(base_url, payment["id"], "pay")
    with gw.sessions.begin() as session:
        session.execute(update(Payment).where(Payment.id == payment["id"]).values(
            needs_review=True, flags=["double_payment", "amount_mismatch", "new_kind"]))
        session.add(PaymentEvent(payment_id=payment["id"], kind="flag", source="system",
                                 detail={"message": "Giao dịch thành công", "verified": True,
                                         "lines": ["Phí thẩm định"]}))
    make_user(gw)
    assert sign_in(http).status_code == 303

    listing = visible(http.get("/staff/?flagged=1").get_data(as_text=True))
    assert "Thanh toán hai lần" in listing and "Lệch số tiền" in listing
    assert "double_payment" not in listing and "amount_mismatch" not in listing
    everyone = visible(http.get("/staff/?reference=HS-BINH").get_data(as_text=True))
    assert plain["id"] in everyone and "Không" in everyone  # needs review: Không

    html = http.get(f"/staff/payments/{payment['id']}").get_data(as_text=True)
    text = visible(html)
    assert "Thanh toán hai lần" in text and "double_payment" not in text
    assert "new kind" in text  # an unknown flag is shown, not hidden
    trail = html[html.index('id="trail"'):html.index('id="callbacks"')]
    assert "Giao dịch thành công" in trail and "\\u" not in trail
    assert "Phí thẩm định" in trail and "Có" in visible(trail)
