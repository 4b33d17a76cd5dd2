#!/usr/bin/env bash
# `make bench`: PostgreSQL + Redis + gunicorn as in production, a bulk-seeded portfolio, and
# every figure measured beside its baseline in the same run (bench/bench.py writes
# bench/results.md). Size: BENCH_LOANS (default 100000) and BENCH_BORROWERS (default half).
# The portfolio is spread over BENCH_BRANCHES branches (default 20) and the pages are measured
# as a branch user. Quick run: BENCH_LOANS=5000 make bench. Re-measure an existing karo_bench
# without seeding again: BENCH_REUSE=1 (BENCH_ONLY=pages,api,posting,close_day,collections
# picks the parts).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
LOANS=${BENCH_LOANS:-100000}
BORROWERS=${BENCH_BORROWERS:-$((LOANS / 2))}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PORT=${BENCH_PORT:-8797}
OUT=bench/out
export BENCH_PG=$PG BENCH_URL=http://127.0.0.1:$PORT
export DATABASE_URL=$PG/karo_bench
export REDIS_URL=${BENCH_REDIS:-redis://127.0.0.1:6379/8}
export DJANGO_SETTINGS_MODULE=bench.settings
export DEBUG=false SECRET_KEY=bench-only-secret-key-not-for-production-7f3a9c1e5b2d8046
export KARO_AUDIT_KEY=bench-only-audit-key-not-for-production-2c9e4a7f1b
export ALLOWED_HOSTS=127.0.0.1 SECURE_SSL_REDIRECT=false SESSION_COOKIE_SECURE=false
export CSRF_COOKIE_SECURE=false SECURE_HSTS_SECONDS=0 LOG_LEVEL=WARNING


for tool in wrk pgbench; do
  command -v $tool >/dev/null && continue
  package=$([ $tool = wrk ] && echo wrk || echo postgresql-contrib)
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $package >/dev/null
  else
    echo "$tool is missing: apt-get install -y $package" >&2; exit 1
  fi
done
mkdir -p "$OUT"
[ -n "${BENCH_REUSE:-}" ] || rm -f "$OUT"/*.txt "$OUT"/*.json "$OUT"/*.log
step() { echo "[bench $(date -u +%H:%M:%S)] $*"; }

if [ -z "${BENCH_REUSE:-}" ]; then
  step "fresh database karo_bench, Redis db ${REDIS_URL##*/}"
  psql "$PG/postgres" -q -c "DROP DATABASE IF EXISTS karo_bench WITH (FORCE)" -c "CREATE DATABASE karo_bench"
  redis-cli -u "$REDIS_URL" flushdb >/dev/null
  $PY manage.py migrate --noinput -v0

  step "seeding $BORROWERS borrowers and $LOANS loans"
  $PY manage.py seed_demo --force --bulk --borrowers "$BORROWERS" --loans "$LOANS" \
    --branches "${BENCH_BRANCHES:-20}" | tee "$OUT/seed.log"
  psql "$DATABASE_URL" -q -c "VACUUM ANALYZE"
  step "money check of the seeded portfolio"
  $PY manage.py check_money | tee "$OUT/check_money_seeded.txt"
  $PY manage.py verify_audit_log

  INSTALLMENTS=$(psql "$DATABASE_URL" -tA -c "SELECT COUNT(*) FROM lending_installment")
  BASE_ROWS=$(( INSTALLMENTS < 1000000 ? INSTALLMENTS : 1000000 ))
  step "seeding baseline: plain bulk_create of $BASE_ROWS Installment rows (rolled back)"
  $PY -m bench.seed_baseline "$BASE_ROWS" > "$OUT/seed_baseline.json"
  cat "$OUT/seed_baseline.json"; echo

  SEED_LOANS=${BENCH_SEED_JOURNAL_LOANS:-$(( LOANS < 20000 ? LOANS : 20000 ))}
  step "seeding $SEED_LOANS loans with and without the journal (scratch database, rolled back)"
  psql "$PG/postgres" -q -c "DROP DATABASE IF EXISTS karo_bench_seed WITH (FORCE)" -c "CREATE DATABASE karo_bench_seed"
  DATABASE_URL=$PG/karo_bench_seed $PY manage.py migrate --noinput -v0
  DATABASE_URL=$PG/karo_bench_seed $PY manage.py seed_demo --force --users-only >/dev/null
  DATABASE_URL=$PG/karo_bench_seed $PY -m bench.bench seed-journal "$SEED_LOANS" > "$OUT/seed_journal.json"
  psql "$PG/postgres" -q -c "DROP DATABASE karo_bench_seed WITH (FORCE)"
  cat "$OUT/seed_journal.json"; echo

else
  step "reusing karo_bench as it is (BENCH_REUSE)"
  [ -s "$OUT/seed.log" ] && [ -s "$OUT/seed_baseline.json" ] || { echo "no earlier seed figures in $OUT" >&2; exit 1; }
fi

$PY manage.py collectstatic --noinput -v0
step "bench loans through the services (12 and 480 installments, 700 repayments, hot loan)"
$PY -m bench.prepare > "$OUT/prepare.json"
psql "$DATABASE_URL" -q -c "ANALYZE"

if [[ ",${BENCH_ONLY:-close_day}," == *",close_day,"* ]]; then
  step "close_day with 1 and with 2 Celery workers, each on a copy of karo_bench"
  $PY -m bench.close_workers > "$OUT/close_workers.json"
  cat "$OUT/close_workers.json"; echo
fi

step "gunicorn on 127.0.0.1:$PORT"
if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then
  echo "port $PORT is taken: set BENCH_PORT" >&2; exit 1
fi
GUNICORN_BIND=127.0.0.1:$PORT GUNICORN_ACCESSLOG=/dev/null \
  .venv/bin/gunicorn -c gunicorn.conf.py karo.wsgi:application >"$OUT/gunicorn.log" 2>&1 &
GUNICORN=$!
trap 'kill $GUNICORN 2>/dev/null || true; wait $GUNICORN 2>/dev/null || true' EXIT
for _ in $(seq 60); do
  curl -fs -o /dev/null "http://127.0.0.1:$PORT/accounts/login/" && break
  sleep 0.5
done

$PY -m bench.bench
$PY manage.py verify_audit_log
step "done: bench/results.md"
