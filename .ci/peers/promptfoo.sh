#!/usr/bin/env bash
# Installs the promptfoo peer of tests/test_promptfoo_real.py outside the
# repository, once per machine: promptfoo 0.123.x needs Node >= 22.22, so the
# npm package `node@22` brings its own Node 22 next to it.  node_modules is
# about 1.5 GB, hence ${REFLECTLOOP_PEERS:-$HOME/.cache/reflectloop-peers}.
# Idempotent: nothing is downloaded when the pinned versions are present.
set -euo pipefail

PROMPTFOO_VERSION=0.123.1
NODE_MAJOR=22
dir="${REFLECTLOOP_PEERS:-$HOME/.cache/reflectloop-peers}/promptfoo"
node="$dir/node_modules/node/bin/node"
main="$dir/node_modules/promptfoo/package.json"

installed() {
    [ -x "$node" ] && [ -f "$main" ] || return 1
    "$node" -e "process.exit(process.versions.node.split('.')[0] === '$NODE_MAJOR' ? 0 : 1)" || return 1
    [ "$("$node" -p "require('$main').version")" = "$PROMPTFOO_VERSION" ]
}

if installed; then
    echo "promptfoo $PROMPTFOO_VERSION with Node $("$node" --version) is present in $dir"
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "promptfoo.sh: npm is not on PATH" >&2; exit 1; }
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"name": "reflectloop-peer-promptfoo", "private": true}' >"$dir/package.json"
# No telemetry, audit or funding requests while installing.
export PROMPTFOO_DISABLE_TELEMETRY=1 npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
npm install --prefix "$dir" --no-save --loglevel=error "node@$NODE_MAJOR" "promptfoo@$PROMPTFOO_VERSION"
installed || { echo "promptfoo.sh: after npm install, $dir has no promptfoo $PROMPTFOO_VERSION on Node $NODE_MAJOR" >&2; exit 1; }
echo "promptfoo $PROMPTFOO_VERSION with Node $("$node" --version) installed in $dir"
