#!/usr/bin/env bash
# API fuzzing (called by .ci/run): start the app with production settings on a free local
# port and a throw-away SQLite database, sign in, add a little data, then let schemathesis
# throw generated requests (valid and invalid) at every operation of /api/openapi.json.
# Fails when any answer is a server error or does not match the schema. The server is stopped
# whatever happens. Bounded: a fixed number of examples per operation and a hard time limit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-100}
# A hard stop for the fuzzing run (seconds); with the examples above it needs one to two minutes.
TIME_LIMIT=${SCHEMATHESIS_TIME_LIMIT:-270}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/karo-schemathesis.XXXXXX")
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

# Production settings (DEBUG off), minus TLS: the fuzzer talks plain HTTP to 127.0.0.1.
export DEBUG=false
export SECRET_KEY="schemathesis-$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')"
export KARO_AUDIT_KEY="schemathesis-$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')"
export ALLOWED_HOSTS=127.0.0.1
export SECURE_SSL_REDIRECT=false SESSION_COOKIE_SECURE=false CSRF_COOKIE_SECURE=false
export SECURE_HSTS_SECONDS=0
export KARO_PLAIN_STATIC=true
export KARO_JWT_ACCESS_MINUTES=60
export DATABASE_URL="sqlite:///$WORK/db.sqlite3"
unset REDIS_URL
export GUNICORN_BIND="127.0.0.1:$PORT" GUNICORN_WORKERS=2 GUNICORN_THREADS=4
export GUNICORN_ACCESSLOG="$WORK/access.log"
# Let over-long query strings reach the app (gunicorn would answer 414 itself): the run tests
# how the API treats them, not the front server's request-line limit.
export GUNICORN_CMD_ARGS="--limit-request-line 0"

$BIN/python manage.py migrate --noinput -v 0
$BIN/python manage.py seed_demo --force --users-only >/dev/null

$BIN/gunicorn --config gunicorn.conf.py karo.wsgi:application >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 60); do
  curl -fsS -o /dev/null "$BASE/api/openapi.json" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server did not start"; exit 1; }
  sleep 0.5
done

json() { $BIN/python -c "import json, sys; print(json.load(sys.stdin)$1)"; }
token() {
  curl -fsS -X POST "$BASE/api/auth/token" -H 'Content-Type: application/json' \
    -d "{\"username\": \"$1\", \"password\": \"$2\"}" | json '["access"]'
}
ADMIN=$(token admin karo-admin-demo)
OFFICER=$(token officer karo-officer-demo)
call() {  # call TOKEN PATH BODY → the answer's id
  curl -fsS -X POST "$BASE$2" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' -d "$3" | json '["id"]'
}

# A borrower, an application and an active loan with a payment, so ids 1 and 2 exist.
BORROWER=$(call "$OFFICER" /api/borrowers \
  '{"full_name": "Fuzz Borrower", "national_id": "FZ-1", "date_of_birth": "1990-01-01", "phone": "+254712345678"}')
LOAN=$(call "$OFFICER" /api/loans \
  "{\"borrower_id\": $BORROWER, \"principal\": \"5000\", \"annual_interest_rate\": \"12\", \"installments\": 18}")
call "$OFFICER" /api/create-loans "{\"borrower_id\": $BORROWER, \"loan_amount\": 1000, \"repayment_period\": 12}" >/dev/null
call "$ADMIN" "/api/loans/$LOAN/approve" '{}' >/dev/null
call "$ADMIN" "/api/loans/$LOAN/repayments" '{"amount": "100.00"}' >/dev/null

# One worker: with two threads, Hypothesis's lambda descriptions call ast.parse concurrently,
# which on CPython 3.11 now and then fails inside the parser ("AST constructor recursion depth
# mismatch", a runtime error of the tool, not of the API).
timeout "$TIME_LIMIT" $BIN/schemathesis run "$BASE/api/openapi.json" \
  --header "Authorization: Bearer $ADMIN" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "$MAX_EXAMPLES" \
  --workers 1 \
  --request-timeout 30 \
  --seed "${SCHEMATHESIS_SEED:-20260101}" \
  --generation-database none \
  --no-color
