# Sourced by scripts/run.sh and scripts/test.sh: makes .venv and installs the pinned requirements
# when they changed since the last install (a hash stamp inside .venv says which were installed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REQUIREMENTS="${1:-requirements.txt}"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> Creating the virtualenv in .venv"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(basename "$REQUIREMENTS")"
digest="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "==> Installing $REQUIREMENTS"
  # Some machines' pip configuration names local mirrors that may be absent; pip says so on every
  # package, which buries real errors, so those lines are dropped.
  { .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  } 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  echo "$digest" > "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
