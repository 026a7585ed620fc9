# feegate — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
STAMP  := $(VENV)/.installed

# `make run` is a demo: sandbox and local simulators of VNPay, MoMo and ZaloPay, with
# test secrets. Production sets real FEEGATE_* variables instead (docs/operations.md).
DEMO_ENV := FEEGATE_ENV=dev FEEGATE_SANDBOX=1 FEEGATE_SIMULATORS=1 \
	FEEGATE_PUBLIC_URL=http://127.0.0.1:$(PORT) \
	FEEGATE_VNPAY_TMN_CODE=DEMOTMN1 FEEGATE_VNPAY_HASH_SECRET=DEMOSECRETVNPAY0000000000000001 \
	FEEGATE_VNPAY_PAY_URL=http://127.0.0.1:$(PORT)/_sim/vnpay/paymentv2/vpcpay.html \
	FEEGATE_VNPAY_API_URL=http://127.0.0.1:$(PORT)/_sim/vnpay/merchant_webapi/api/transaction \
	FEEGATE_MOMO_PARTNER_CODE=MOMODEMO FEEGATE_MOMO_ACCESS_KEY=demoaccesskey \
	FEEGATE_MOMO_SECRET_KEY=demosecretkeymomo FEEGATE_MOMO_ENDPOINT=http://127.0.0.1:$(PORT)/_sim/momo \
	FEEGATE_ZALOPAY_APP_ID=2553 FEEGATE_ZALOPAY_KEY1=demokey1zalopay FEEGATE_ZALOPAY_KEY2=demokey2zalopay \
	FEEGATE_ZALOPAY_ENDPOINT=http://127.0.0.1:$(PORT)/_sim/zalopay

.PHONY: run test test-yearend lint bench clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(DEMO_ENV) $(BIN)/feegate db upgrade
	@$(DEMO_ENV) $(BIN)/feegate demo seed > instance/demo-client.json
	@-$(DEMO_ENV) $(BIN)/feegate demo history >/dev/null 2>&1
	@echo ""
	@echo "  feegate demo on http://127.0.0.1:$(PORT)"
	@echo "  demo API key:     $$($(BIN)/python -c 'import json;print(json.load(open("instance/demo-client.json"))["api_key"])')"
	@echo "  demo portal page: http://127.0.0.1:$(PORT)/demo"
	@echo "  API document:     http://127.0.0.1:$(PORT)/api/v1/openapi.json"
	@echo ""
	$(DEMO_ENV) $(BIN)/python -m webhooks.run_demo --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP) lint
	bash scripts/ensure-debian-tools.sh
	$(BIN)/pytest -q -p no:cacheprovider

# The SQLite suite again with the machine's clock at 23:45 on New Year's Eve in Vietnam
# (16:45 UTC), through libfaketime: a test or a default that reads the real date fails
# here, not on a later day. The browser tests run in `make test`; Chromium is left out.
# The monotonic clock stays real (tests/yearend/sitecustomize.py says why).
YEAREND ?= 2027-12-31 16:45:00
test-yearend: $(STAMP)
	bash scripts/ensure-debian-tools.sh
	@command -v faketime >/dev/null || { echo "test-yearend needs faketime (apt-get install faketime)"; exit 1; }
	env -u FEEGATE_TEST_DATABASE_URL TZ=UTC FAKETIME_DONT_FAKE_MONOTONIC=1 \
		PYTHONPATH=tests/yearend faketime '$(YEAREND)' \
		$(BIN)/pytest -q -p no:cacheprovider --ignore=tests/browser

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache *.egg-info
