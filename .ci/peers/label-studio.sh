#!/usr/bin/env bash
# The real Label Studio of the round-trip test (tests/test_labelstudio_roundtrip.py),
# installed once per machine in its own venv: its pinned dependencies (Django,
# its own label-studio-sdk...) clash with the project's, so it lives outside
# the repository and outside the project's venv.  Idempotent: a venv that
# already holds the pinned version is left alone.
set -euo pipefail

version=1.23.2
# label-studio asks for sentry-sdk>=2.16 unbounded, and sentry-sdk 3 refuses the
# options it starts Sentry with (TypeError at start): held below 3.
sentry="sentry-sdk>=2.16,<3"
peers="${REFLECTLOOP_PEERS:-$HOME/.cache/reflectloop-peers}"
venv="$peers/label-studio"
python="${PYTHON:-python3}"

installed() {
    [ -x "$venv/bin/label-studio" ] &&
        [ "$("$venv/bin/python" -c 'import importlib.metadata as m
print(m.version("label-studio"), m.version("sentry-sdk").split(".")[0])' 2>/dev/null)" = "$version 2" ]
}

if installed; then
    echo "label-studio $version: already in $venv"
    exit 0
fi
echo "label-studio $version: installing into $venv (a few minutes)"
mkdir -p "$peers"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "label-studio==$version" "$sentry"
installed || { echo "label-studio $version: not runnable from $venv after installing it" >&2; exit 1; }
echo "label-studio $version: installed in $venv"
