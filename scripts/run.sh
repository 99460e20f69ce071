#!/usr/bin/env bash
# Starts Retention on its embedded default: SQLite in ./db.sqlite3, tasks in-process, demo data.
# Usage: scripts/run.sh [ADDRESS:PORT]   (default 127.0.0.1:8000)
set -euo pipefail
source "$(dirname "$0")/_venv.sh" requirements.txt
ADDRESS="${1:-127.0.0.1:8000}"
echo "==> Migrating the database"
python manage.py migrate --noinput -v 0
echo "==> Demo data (created once; 'python manage.py seed_demo --reset' starts it again)"
python manage.py seed_demo
echo "==> Last night's jobs: scoring, call lists, messages, points expiry, tiers (once a day)"
LOG_LEVEL=WARNING python manage.py run_nightly --verbosity 0 > /dev/null \
  || echo "(a nightly job failed: see Administration > Job runs)"
echo "==> Log in as manager, rep1 ... rep5, loyalty or admin; the password is retention-demo"
echo "==> Starting Retention at http://$ADDRESS/ (Ctrl+C stops it)"
exec python manage.py runserver "$ADDRESS"
