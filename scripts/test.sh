#!/usr/bin/env bash
# Runs the whole test suite: ruff, the migration check, then pytest.
# SQLite by default; PostgreSQL when DATABASE_URL is set; the Celery-worker and production smoke
# tests need TEST_REDIS_URL (see .ci/run, which sets both). Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" requirements-dev.txt
echo "==> ruff"
ruff check .
echo "==> bandit (no high-severity findings)"
bandit -q -r common customers contacts loyalty retention -x tests -lll
echo "==> migrations are up to date"
python manage.py makemigrations --check --dry-run -v 0
echo "==> pytest"
exec python -m pytest "$@"
