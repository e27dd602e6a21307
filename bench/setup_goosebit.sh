#!/usr/bin/env bash
# One-time setup for the goosebit comparison in bench/run_all.py and bench/ddi_poll.py:
# goosebit (a hawkBit DDI server, PyPI) in its own venv, bench/.venv-goosebit (gitignored).
# It is never a dependency of OTA Desktop; without this venv that figure is skipped.
#
#     bash bench/setup_goosebit.sh          # then: python bench/run_all.py
set -euo pipefail
cd "$(dirname "$0")"
venv=.venv-goosebit
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
# uvicorn[standard]: the same uvloop + httptools stack that OTA Desktop's server runs on
"$venv/bin/pip" install -q 'goosebit>=0.2,<0.3' 'uvicorn[standard]'
"$venv/bin/python" -c "import importlib.metadata as m; print('goosebit', m.version('goosebit'), 'in bench/$venv')"
