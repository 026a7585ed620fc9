"""The citizen's receipt, its PDF, the public check of its code, and the rating.

Every payment is paid through the real flow (checkout -> sandbox -> callback over HTTP).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import func, select

from payments.models import Rating, Receipt
from payments.services.gateway import Gateway
from payments.services.receipts import amount_words, mask_reference, number_words
from tests.factories import ApiClient, create_payment, make_api_client, make_procedure
from tests.flow import forms_of, pay_through_sandbox
from tests.web.test_checkout import external_resources

PROCEDURE = "1.004227"
AMOUNT = 1_250_000
WORDS = "một triệu hai trăm năm mươi nghìn đồng"
FEES = (
    ("Lệ phí đăng ký khai sinh có yếu tố nước ngoài", "charge", 1_000_000),
    ("Phí cấp bản sao trích lục", "fee", 250_000),
)


@pytest.fixture
def client(gw: Gateway, app: Any) -> ApiClient:
    make_procedure(gw, code=PROCEDURE, name="Đăng ký khai sinh có yếu tố nước ngoài", fees=FEES)
    return make_api_client(gw)


@pytest.fixture
def payment(http: FlaskClient, client: ApiClient) -> dict[str, Any]:
    return create_payment(
        http, client, procedure_code=PROCEDURE, amount=AMOUNT, description="",
        reference="000.00.01.H32-261126-0042",
        fee_items=[{"name": n, "kind": k, "amount": a} for n, k, a in FEES],
    )


@pytest.fixture
def paid(payment: dict[str, Any], base_url: str) -> dict[str, Any]:
    walk = pay_through_sandbox(base_url, payment["id"], "pay")
    assert walk.result.status_code == 200
    assert 'data-status="succeeded"' in walk.result.text
    return payment


def receipt_row(gw: Gateway, payment_id: str) -> Receipt:
    with gw.sessions() as session:
        row = session.scalar(select(Receipt).where(Receipt.payment_id == payment_id))
        assert row is not None
        return row


# -- the amount in words ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "không"),
        (1, "một"),
        (5, "năm"),
        (10, "mười"),
        (11, "mười một"),
        (14, "mười bốn"),
        (15, "mười lăm"),
        (20, "hai mươi"),
        (21, "hai mươi mốt"),
        (24, "hai mươi tư"),
        (25, "hai mươi lăm"),
        (55, "năm mươi lăm"),
        (100, "một trăm"),
        (101, "một trăm linh một"),
        (105, "một trăm linh năm"),
        (110, "một trăm mười"),
        (115, "một trăm mười lăm"),
        (1_000, "một nghìn"),
        (1_001, "một nghìn không trăm linh một"),
        (1_010, "một nghìn không trăm mười"),
        (1_024, "một nghìn không trăm hai mươi tư"),
        (35_000, "ba mươi lăm nghìn"),
        (150_000, "một trăm năm mươi nghìn"),
        (200_500, "hai trăm nghìn năm trăm"),
        (1_000_000, "một triệu"),
        (1_005_000, "một triệu không trăm linh năm nghìn"),
        (1_250_000, "một triệu hai trăm năm mươi nghìn"),
        (2_000_005, "hai triệu không trăm linh năm"),
        (21_041_015, "hai mươi mốt triệu không trăm bốn mươi mốt nghìn không trăm mười lăm"),
        (1_000_000_000, "một tỷ"),
        (1_000_000_001, "một tỷ không trăm linh một"),
        (5_000_000_000, "năm tỷ"),
        (100_000_000_000, "một trăm tỷ"),
        (999_999_999_999, "chín trăm chín mươi chín tỷ chín trăm chín mươi chín triệu "
                          "chín trăm chín mươi chín nghìn chín trăm chín mươi chín"),
        (1_000_000_000_000, "một nghìn tỷ"),
        (1_234_567_891_011, "một nghìn hai trăm ba mươi tư tỷ năm trăm sáu mươi bảy triệu "
                            "tám trăm chín mươi mốt nghìn không trăm mười một"),
    ],
)
def test_numbers_are_read_as_vietnamese_financial_documents_write_them(
    n: int, words: str
) -> None:
    assert number_words(n) == words


def test_the_amount_in_words_ends_with_dong() -> None:
    assert amount_words(AMOUNT) == WORDS


def test_every_amount_up_to_a_trillion_has_words_without_gaps() -> None:
    for n in [*range(0, 2_100, 7), *range(10**12 - 2_000, 10**12 + 1, 13)]:
        words = number_words(n)
        assert "  " not in words and words == words.strip()
        assert not words.startswith(("linh", "mươi", "trăm"))


def test_a_reference_is_partly_masked() -> None:
    masked = mask_reference("000.00.01.H32-261126-0042")
    assert masked.startswith("000.") and masked.endswith("0042")
    assert "261126" not in masked
    assert mask_reference("AB") == "A*"


# -- the receipt page ---------------------------------------------------------------------------


def test_before_success_there_is_no_receipt_409(
    http: FlaskClient, payment: dict[str, Any]
) -> None:
    for path in ("receipt", "receipt.pdf"):
        response = http.get(f"/pay/{payment['id']}/{path}")
        assert response.status_code == 409
        assert "chưa được thanh toán thành công" in response.get_data(as_text=True)


def test_an_unknown_payment_has_no_receipt_404(http: FlaskClient, client: ApiClient) -> None:
    for path in ("receipt", "receipt.pdf", "receipt/qr.svg"):
        assert http.get(f"/pay/pay_doesnotexist/{path}").status_code == 404
    assert http.get("/pay/pay_x%00y/receipt").status_code == 404


def test_the_receipt_shows_what_the_citizen_paid_for_and_how(
    http: FlaskClient, paid: dict[str, Any], gw: Gateway
) -> None:
    response = http.get(f"/pay/{paid['id']}/receipt")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert '<html lang="vi">' in html
    assert "Sở Tư pháp tỉnh Khánh Hòa" in html
    assert "Đăng ký khai sinh có yếu tố nước ngoài" in html
    assert "000.00.01.H32-261126-0042" in html
    assert "Phí cấp bản sao trích lục" in html and "250.000 ₫" in html
    assert re.search(r'data-testid="amount">1\.250\.000 ₫<', html)
    assert f'data-testid="amount-words">{WORDS}<' in html
    assert "Sandbox (thử nghiệm)" in html
    row = receipt_row(gw, paid["id"])
    assert row.provider == "sandbox" and row.provider_txn_id
    assert f'data-testid="txn-id">{row.provider_txn_id}<' in html
    assert "26/11/2026 10:00" in html  # 03:00 UTC, in Vietnam
    assert row.amount == AMOUNT and len(row.fee_lines) == 2
    code = row.verification_code
    assert re.fullmatch(r"[A-Z2-7]{16}", code)
    shown = "-".join(code[i:i + 4] for i in range(0, 16, 4))
    assert shown in html
    assert f"{gw.settings.public_url}/verify/{code}" in html
    assert f'src="/pay/{paid["id"]}/receipt/qr.svg"' in html
    (form,) = [f for f in forms_of(html) if f.action.startswith(f"/pay/{paid['id']}/rating")]
    assert form.method == "post"
    for label in ("Rất hài lòng", "Hài lòng", "Bình thường", "Không hài lòng"):
        assert label in html


def test_the_code_is_stored_once_and_the_receipt_does_not_change(
    http: FlaskClient, paid: dict[str, Any], gw: Gateway
) -> None:
    first = http.get(f"/pay/{paid['id']}/receipt").get_data(as_text=True)
    code = receipt_row(gw, paid["id"]).verification_code
    second = http.get(f"/pay/{paid['id']}/receipt?lang=en").get_data(as_text=True)
    assert receipt_row(gw, paid["id"]).verification_code == code
    assert code[:4] in first and code[:4] in second
    with gw.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Receipt)) == 1


def test_two_receipts_have_different_codes(
    http: FlaskClient, client: ApiClient, base_url: str, gw: Gateway
) -> None:
    codes = set()
    for n in range(2):
        p = create_payment(http, client, reference=f"HS-{n}", procedure_code=PROCEDURE,
                           amount=AMOUNT,
                           fee_items=[{"name": a, "kind": b, "amount": c} for a, b, c in FEES])
        pay_through_sandbox(base_url, p["id"])
        assert http.get(f"/pay/{p['id']}/receipt").status_code == 200
        codes.add(receipt_row(gw, p["id"]).verification_code)
    assert len(codes) == 2


def test_the_receipt_speaks_english_with_lang_en(
    http: FlaskClient, paid: dict[str, Any]
) -> None:
    html = http.get(f"/pay/{paid['id']}/receipt?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Payment receipt" in html and "Verification code" in html
    assert WORDS in html  # the words stay Vietnamese, marked lang="vi"
    assert 'lang="vi"' in html


def test_the_qr_is_an_svg_of_the_verification_link(
    http: FlaskClient, paid: dict[str, Any]
) -> None:
    assert http.get(f"/pay/{paid['id']}/receipt/qr.svg").status_code == 404  # not yet written
    http.get(f"/pay/{paid['id']}/receipt")
    response = http.get(f"/pay/{paid['id']}/receipt/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.get_data(as_text=True).lstrip().startswith("<svg")


def test_the_receipt_loads_nothing_from_elsewhere_and_never_reloads_itself(
    http: FlaskClient, paid: dict[str, Any], gw: Gateway
) -> None:
    html = http.get(f"/pay/{paid['id']}/receipt").get_data(as_text=True)
    code = receipt_row(gw, paid["id"]).verification_code
    pages = [html, http.get(f"/verify/{code}").get_data(as_text=True)]
    for text in pages:
        assert external_resources(text) == []
        assert "http-equiv" not in text.lower()
        assert "<script" not in text  # no inline script, no script at all
        assert "data:" not in text
        assert len(text.encode()) < 100_000
        body = text[text.index("<main>"):]  # (base.html's own <style> is the layout's)
        assert "<style" not in body and " style=" not in body  # the page's styles: a file
    with http.get("/static/receipts/receipt.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
    assert "/static/receipts/receipt.css" in html


# -- the PDF --------------------------------------------------------------------------------------


def pdf_text(body: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftotext is missing under CI: scripts/ensure-debian-tools.sh "
                        "installs Debian's poppler-utils")
        pytest.skip("pdftotext (Debian's poppler-utils) is missing: "
                    "scripts/ensure-debian-tools.sh installs it")
    path = tmp_path / "receipt.pdf"
    path.write_bytes(body)
    done = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"],
                          capture_output=True, check=True, timeout=60)
    return done.stdout.decode("utf-8")


def test_the_pdf_holds_the_receipt_in_extractable_vietnamese(
    http: FlaskClient, paid: dict[str, Any], gw: Gateway, tmp_path: Path
) -> None:
    response = http.get(f"/pay/{paid['id']}/receipt.pdf")
    body = response.get_data()

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert body.startswith(b"%PDF-")
    text = " ".join(pdf_text(body, tmp_path).split())
    assert WORDS in text
    assert "1.250.000 ₫" in text
    assert "Sở Tư pháp tỉnh Khánh Hòa" in text
    assert "Đăng ký khai sinh có yếu tố nước ngoài" in text
    assert "000.00.01.H32-261126-0042" in text
    assert "26/11/2026 10:00" in text
    row = receipt_row(gw, paid["id"])
    assert row.provider_txn_id and row.provider_txn_id in text
    assert row.verification_code[:4] in text
    assert f"/verify/{row.verification_code}" in text


# -- /verify/{code} ------------------------------------------------------------------------------


def test_the_verification_page_confirms_without_giving_the_dossier_away(
    http: FlaskClient, paid: dict[str, Any], gw: Gateway
) -> None:
    http.get(f"/pay/{paid['id']}/receipt")
    code = receipt_row(gw, paid["id"]).verification_code

    response = http.get(f"/verify/{code}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="vi">' in html
    assert "Sở Tư pháp tỉnh Khánh Hòa" in html
    assert "Đăng ký khai sinh có yếu tố nước ngoài" in html
    assert "1.250.000 ₫" in html
    assert "26/11/2026" in html
    assert "000.00.01.H32-261126-0042" not in html
    assert mask_reference("000.00.01.H32-261126-0042") in html
    assert "Nguyễn Văn A" not in html
    assert paid["id"] not in html  # the payment id opens the receipt: never shown here
    english = http.get(f"/verify/{code}?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and "The verification code is valid" in english
    # typed by hand: lower case, in groups
    grouped = "-".join(code[i:i + 4] for i in range(0, 16, 4)).lower()
    assert http.get(f"/verify/{grouped}").status_code == 200


def test_an_unknown_code_is_404(http: FlaskClient, paid: dict[str, Any]) -> None:
    for code in ("AAAAAAAAAAAAAAAA", "nonsense", "x" * 300):
        response = http.get(f"/verify/{code}")
        assert response.status_code == 404
        assert "Không có biên nhận nào" in response.get_data(as_text=True)


# -- the rating --------------------------------------------------------------------------------


def test_rating_before_success_is_409(http: FlaskClient, payment: dict[str, Any]) -> None:
    response = http.post(f"/pay/{payment['id']}/rating", json={"rating": 4})
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert http.post(f"/pay/{payment['id']}/rating", data={"rating": "4"}).status_code == 409


def test_rating_an_unknown_payment_is_404(http: FlaskClient, client: ApiClient) -> None:
    assert http.post("/pay/pay_nope/rating", json={"rating": 4}).status_code == 404
    assert http.post("/pay/pay_nope/rating", data={"rating": "4"}).status_code == 404


def test_one_rating_per_payment_as_json(
    http: FlaskClient, paid: dict[str, Any], gw: Gateway
) -> None:
    first = http.post(f"/pay/{paid['id']}/rating", json={"rating": 3, "comment": " Nhanh, gọn "})
    assert first.status_code == 201
    assert first.get_json()["rating"] == 3 and first.get_json()["comment"] == "Nhanh, gọn"
    again = http.post(f"/pay/{paid['id']}/rating", json={"rating": 4})
    assert again.status_code == 409
    assert again.mimetype == "application/problem+json"
    with gw.sessions() as session:
        (row,) = session.scalars(select(Rating)).all()
        assert (row.rating, row.comment) == (3, "Nhanh, gọn")
    html = http.get(f"/pay/{paid['id']}/receipt").get_data(as_text=True)
    assert 'data-testid="rating-done"' in html and "Hài lòng" in html
    assert 'data-testid="rating-form"' not in html


def test_the_form_rates_with_one_tap_and_comes_back_to_the_receipt(
    http: FlaskClient, paid: dict[str, Any], base_url: str
) -> None:
    page_url = f"{base_url}/pay/{paid['id']}/receipt"
    page = requests.get(page_url, timeout=30)
    (form,) = [f for f in forms_of(page.text) if "/rating" in f.action]
    assert ("rating", "4") in form.buttons and ("rating", "1") in form.buttons

    response = requests.post(f"{base_url}{form.action}",
                             data={**form.fields, "rating": "1", "comment": "Chậm"},
                             allow_redirects=False, timeout=30)
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"/pay/{paid['id']}/receipt")
    after = requests.get(f"{base_url}{response.headers['Location']}", timeout=30).text
    assert "Cảm ơn bạn đã đánh giá" in after and "Không hài lòng" in after
    second = requests.post(f"{base_url}{form.action}", data={"rating": "4"},
                           allow_redirects=False, timeout=30)
    assert second.status_code == 409


@pytest.mark.parametrize(
    "body",
    [{}, {"rating": 0}, {"rating": 5}, {"rating": "4"}, {"rating": True}, {"rating": 3.0},
     {"rating": 4, "comment": "x" * 1001}, {"rating": 4, "comment": 7}],
)
def test_a_bad_rating_is_422(http: FlaskClient, paid: dict[str, Any], body: dict[str, Any],
                             gw: Gateway) -> None:
    if body.get("rating") == "4":  # JSON wants the integer; a form sends the digit
        assert http.post(f"/pay/{paid['id']}/rating", data=body).status_code == 303
        return
    response = http.post(f"/pay/{paid['id']}/rating", json=body)
    assert response.status_code == 422
    with gw.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Rating)) == 0


def test_two_ratings_at_once_one_201_one_409(
    paid: dict[str, Any], base_url: str, is_postgres: bool, gw: Gateway
) -> None:
    if not is_postgres:
        pytest.skip("the race is decided by PostgreSQL's unique index (SQLite serialises)")
    url = f"{base_url}/pay/{paid['id']}/rating"
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def answer(value: int) -> None:
        barrier.wait()
        statuses.append(requests.post(url, json={"rating": value}, timeout=30).status_code)

    threads = [threading.Thread(target=answer, args=(v,)) for v in (4, 3, 2, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409, 409, 409]
    with gw.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Rating)) == 1


# -- the portal's side: receipt data and the agency's e-receipt number -----------------------------


def test_receipt_data_has_what_an_e_receipt_needs(
    http: FlaskClient, client: ApiClient, paid: dict[str, Any], gw: Gateway
) -> None:
    response = http.get(f"/api/v1/payments/{paid['id']}/receipt-data", headers=client.headers)
    assert response.status_code == 200
    body = response.get_json()
    row = receipt_row(gw, paid["id"])
    assert body["verification_code"] == row.verification_code
    assert body["verify_url"] == f"{gw.settings.public_url}/verify/{row.verification_code}"
    assert body["agency_code"] == "000.00.01.H32"
    assert body["agency_name"] == "Sở Tư pháp tỉnh Khánh Hòa"
    assert body["procedure_name"] == "Đăng ký khai sinh có yếu tố nước ngoài"
    assert body["payer_name"] == "Nguyễn Văn A"
    assert body["fee_items"] == [{"name": n, "kind": k, "amount": a} for n, k, a in FEES]
    assert (body["amount"], body["amount_in_words"], body["currency"]) == (AMOUNT, WORDS, "VND")
    assert body["provider"] == "sandbox" and body["provider_txn_id"] == row.provider_txn_id
    assert body["paid_at"] == "2026-11-26T10:00:00+07:00"
    assert body["ereceipt"] is None


def test_receipt_data_is_409_before_success_and_404_for_another_client(
    http: FlaskClient, client: ApiClient, payment: dict[str, Any], gw: Gateway
) -> None:
    path = f"/api/v1/payments/{payment['id']}/receipt-data"
    response = http.get(path, headers=client.headers)
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    stranger = make_api_client(gw, name="Cổng khác")
    assert http.get(path, headers=stranger.headers).status_code == 404
    assert http.get(path).status_code == 401


def test_the_agency_records_its_e_receipt_and_the_receipt_shows_it(
    http: FlaskClient, client: ApiClient, paid: dict[str, Any], gw: Gateway
) -> None:
    path = f"/api/v1/payments/{paid['id']}/receipt-number"
    number = {"template": "EBL01", "series": "26TAB", "number": "0000123"}
    response = http.post(path, json=number, headers=client.headers)
    assert response.status_code == 200, response.get_json()
    issued = response.get_json()["ereceipt"]
    assert (issued["template"], issued["series"], issued["number"]) == ("EBL01", "26TAB", "123")
    assert issued["issued_at"] == "2026-11-26T10:00:00+07:00"  # now, by the Gateway's clock
    assert http.post(path, json=number, headers=client.headers).status_code == 200  # a retry
    other = {**number, "number": "124"}
    assert http.post(path, json=other, headers=client.headers).status_code == 409
    html = http.get(f"/pay/{paid['id']}/receipt").get_data(as_text=True)
    assert 'data-testid="ereceipt"' in html and "26TAB" in html and ">123<" in html


def test_an_e_receipt_number_is_used_once_per_agency_template_and_series(
    http: FlaskClient, client: ApiClient, paid: dict[str, Any], base_url: str
) -> None:
    number = {"template": "EBL01", "series": "26TAB", "number": "7"}
    first = http.post(f"/api/v1/payments/{paid['id']}/receipt-number", json=number,
                      headers=client.headers)
    assert first.status_code == 200
    second = create_payment(http, client, reference="HS-2", procedure_code=PROCEDURE,
                            amount=AMOUNT,
                            fee_items=[{"name": n, "kind": k, "amount": a} for n, k, a in FEES])
    pay_through_sandbox(base_url, second["id"])
    taken = http.post(f"/api/v1/payments/{second['id']}/receipt-number", json=number,
                      headers=client.headers)
    assert taken.status_code == 409
    assert taken.get_json()["errors"][0]["field"] == "number"
    other_series = {**number, "series": "26TAC"}
    assert http.post(f"/api/v1/payments/{second['id']}/receipt-number", json=other_series,
                     headers=client.headers).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"template": "EBL03", "series": "26TAB", "number": "1"},
     {"template": "EBL01", "series": "26TAF", "number": "1"},  # F is not a series letter
     {"template": "EBL01", "series": "26TAB", "number": "0"},
     {"template": "EBL01", "series": "26TAB", "number": "123456789"},  # 9 digits
     {"template": "EBL01", "series": "26TAB", "number": 5},
     {"template": "EBL01", "series": "26TAB", "number": "1", "extra": "x"},
     {"template": "EBL01", "series": "26TAB"}],
)
def test_a_malformed_e_receipt_number_is_422(
    http: FlaskClient, client: ApiClient, paid: dict[str, Any], body: dict[str, Any]
) -> None:
    response = http.post(f"/api/v1/payments/{paid['id']}/receipt-number", json=body,
                         headers=client.headers)
    assert response.status_code == 422


def test_a_counter_payment_has_a_receipt_with_the_counter_receipt_number(
    http: FlaskClient, client: ApiClient
) -> None:
    p = create_payment(http, client, reference="HS-Q", procedure_code=PROCEDURE, amount=AMOUNT,
                       fee_items=[{"name": n, "kind": k, "amount": a} for n, k, a in FEES],
                       counter={"method": "cash", "receipt_no": "0004567"})
    html = http.get(f"/pay/{p['id']}/receipt").get_data(as_text=True)
    assert "Tại quầy" in html and 'data-testid="txn-id">0004567<' in html


def test_the_result_and_checkout_pages_link_to_the_receipt_once_paid(
    http: FlaskClient, payment: dict[str, Any], base_url: str
) -> None:
    assert 'data-testid="receipt-link"' not in http.get(f"/pay/{payment['id']}").get_data(
        as_text=True)
    walk = pay_through_sandbox(base_url, payment["id"], "pay")
    link = f'href="/pay/{payment["id"]}/receipt?lang=vi" data-testid="receipt-link"'
    assert link in walk.result.text
    assert link in http.get(f"/pay/{payment['id']}").get_data(as_text=True)


def test_two_first_views_at_once_write_one_receipt(
    paid: dict[str, Any], base_url: str, is_postgres: bool, gw: Gateway
) -> None:
    if not is_postgres:
        pytest.skip("the race is decided by PostgreSQL's unique index (SQLite serialises)")
    barrier = threading.Barrier(3)
    pages: list[requests.Response] = []

    def view() -> None:
        barrier.wait()
        pages.append(requests.get(f"{base_url}/pay/{paid['id']}/receipt", timeout=30))

    threads = [threading.Thread(target=view) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [p.status_code for p in pages] == [200, 200, 200]
    code = receipt_row(gw, paid["id"]).verification_code
    assert all(code[:4] in p.text for p in pages)
    with gw.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Receipt)) == 1


def test_without_the_pypi_font_the_pdf_uses_debians_dejavu(
    http: FlaskClient, paid: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments.web import receipt_pdf

    if not (receipt_pdf.DEJAVU / "DejaVuSans.ttf").is_file():
        pytest.skip("Debian's fonts-dejavu-core is missing (scripts/ensure-debian-tools.sh)")
    monkeypatch.setattr(receipt_pdf, "_noto_sans", lambda: None)
    receipt_pdf.font_files.cache_clear()
    try:
        assert "DejaVuSans" in receipt_pdf.font_files()[0]
        body = http.get(f"/pay/{paid['id']}/receipt.pdf").get_data()
    finally:
        receipt_pdf.font_files.cache_clear()
    assert WORDS in " ".join(pdf_text(body, tmp_path).split())
