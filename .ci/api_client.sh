#!/usr/bin/env bash
# The API as an outside client meets it (called by .ci/run): start the app with production
# settings on a free local port and a throw-away SQLite database (a user per role from
# seed_demo), fetch /api/openapi.json, generate a Python client from it with
# openapi-python-client (pinned in requirements-dev.txt), and run a short workflow with that
# client only: tokens, a borrower, a loan, approval without a body, a payment, the schedule
# and the repayments, a reversal's dry run. Fails when the client cannot be generated, does
# not import, or any step answers other than the schema says. The server is stopped whatever
# happens.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
ROOT=$PWD

WORK=$(mktemp -d "${TMPDIR:-/tmp}/karo-api-client.XXXXXX")
PORT=$($BIN/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
SERVER_PID=""

cleanup() {
  status=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$WORK/server.log" ]; then
    echo "--- last lines of the server log ---"
    tail -n 60 "$WORK/server.log"
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT INT TERM

# Production settings (DEBUG off), minus TLS: the client talks plain HTTP to 127.0.0.1.
export DEBUG=false
export SECRET_KEY="api-client-$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')"
export KARO_AUDIT_KEY="api-client-$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')"
export ALLOWED_HOSTS=127.0.0.1
export SECURE_SSL_REDIRECT=false SESSION_COOKIE_SECURE=false CSRF_COOKIE_SECURE=false
export SECURE_HSTS_SECONDS=0
export KARO_PLAIN_STATIC=true
export DATABASE_URL="sqlite:///$WORK/db.sqlite3"
unset REDIS_URL
export GUNICORN_BIND="127.0.0.1:$PORT" GUNICORN_WORKERS=2 GUNICORN_THREADS=2
export GUNICORN_ACCESSLOG="$WORK/access.log"

$BIN/python manage.py migrate --noinput -v 0
$BIN/python manage.py seed_demo --force --users-only >/dev/null

$BIN/gunicorn --config gunicorn.conf.py karo.wsgi:application >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 60); do
  curl -fsS -o /dev/null "$BASE/api/openapi.json" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server did not start"; exit 1; }
  sleep 0.5
done

curl -fsS -o "$WORK/openapi.json" "$BASE/api/openapi.json"
# The generator formats its output with ruff, found on PATH.
(cd "$WORK" && PATH="$ROOT/$BIN:$PATH" "$ROOT/$BIN/openapi-python-client" generate \
  --path openapi.json --meta none --output-path karo_client --overwrite) \
  | tee "$WORK/generate.log"
if grep -qi "warning" "$WORK/generate.log"; then
  echo "openapi-python-client warned about the schema (see above)"; exit 1
fi

PYTHONPATH="$WORK" KARO_API="$BASE" $BIN/python - <<'PY'
"""A short workflow through the generated client only (no hand-written HTTP)."""

import datetime as dt
import os
import uuid
from http import HTTPStatus
from typing import Any

from karo_client import AuthenticatedClient, Client
from karo_client.api.auth import token
from karo_client.api.borrowers import create_borrower
from karo_client.api.loans import approve_loan, create_loan, get_loan, get_loan_schedule
from karo_client.api.repayments import create_repayment, list_repayments, reverse_repayment
from karo_client.models import BorrowerIn, LoanIn, RepaymentIn, ReverseIn, TokenIn
from karo_client.models.reversal_plan_out import ReversalPlanOut

BASE = os.environ["KARO_API"]


def ok(step: str, answer: Any, status: HTTPStatus) -> Any:
    if answer.status_code != status:
        raise SystemExit(f"{step}: {answer.status_code} {answer.content[:500]!r}")
    print(f"ok  {step}: {answer.status_code}")
    return answer.parsed


def signed_in(username: str, password: str) -> AuthenticatedClient:
    anonymous = Client(base_url=BASE, raise_on_unexpected_status=True)
    body = TokenIn(username=username, password=password)
    tokens = ok(f"token for {username}", token.sync_detailed(client=anonymous, body=body), 200)
    return AuthenticatedClient(base_url=BASE, token=tokens.access, raise_on_unexpected_status=True)


officer = signed_in("officer", "karo-officer-demo")
approver = signed_in("officer2", "karo-officer2-demo")
cashier = signed_in("accountant", "karo-accountant-demo")

borrower = ok(
    "create borrower",
    create_borrower.sync_detailed(
        client=officer,
        body=BorrowerIn(
            full_name="Client Check",
            national_id=f"CC{uuid.uuid4().hex[:10]}",
            date_of_birth=dt.date(1988, 4, 2),
            phone="+255700000099",
        ),
    ),
    201,
)
loan = ok(
    "create loan",
    create_loan.sync_detailed(
        client=officer,
        body=LoanIn(
            borrower_id=borrower.id, principal="5000.00", annual_interest_rate="12", installments=6
        ),
    ),
    201,
)
assert loan.status == "pending" and loan.projected and loan.total_repayable != "0.00", loan
approved = ok("approve without a body", approve_loan.sync_detailed(loan.id, client=approver), 200)
assert approved.status == "active" and approved.first_due_date is not None, approved
key = str(uuid.uuid4())
paid = ok(
    "pay",
    create_repayment.sync_detailed(
        loan.id, client=cashier, body=RepaymentIn(amount="500.00"), idempotency_key=key
    ),
    201,
)
again = ok(
    "pay again with the same key (nothing new)",
    create_repayment.sync_detailed(
        loan.id, client=cashier, body=RepaymentIn(amount="500.00"), idempotency_key=key
    ),
    201,
)
assert again.id == paid.id, (again.id, paid.id)
schedule = ok("read schedule", get_loan_schedule.sync_detailed(loan.id, client=cashier), 200)
assert len(schedule.installments) == 6 and schedule.installments[0].paid != "0.00", schedule
page = ok("read repayments", list_repayments.sync_detailed(loan.id, client=cashier), 200)
assert page.count == 1 and page.items[0].id == paid.id and page.next_ is None, page
plan = ok(
    "reverse with dry_run",
    reverse_repayment.sync_detailed(
        paid.id, client=cashier, body=ReverseIn(reason="Client check"), dry_run=True
    ),
    200,
)
assert isinstance(plan, ReversalPlanOut), plan
after = ok("read loan", get_loan.sync_detailed(loan.id, client=cashier), 200)
assert after.total_paid == "500.00", after  # the dry run stored nothing
print("the generated client ran the workflow")
PY
