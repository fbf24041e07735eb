#!/usr/bin/env bash
# Installs those of the Debian packages named that are missing (apt-get, with sudo when not
# root); does nothing when all are there. tools/setup.sh installs what the build and tests
# need with it; the benchmarks add their peers and picture tools with --optional, which
# never fails its caller: a package it cannot install costs only the rows or pictures that
# need it, and the benchmark says which.
#   tools/install_packages.sh [--optional] PACKAGE...
set -euo pipefail
optional=false
if [ "${1:-}" = "--optional" ]; then
  optional=true
  shift
fi
missing=()
for package in "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
((${#missing[@]})) || exit 0
echo "install: installing ${missing[*]}"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
if ! { $sudo_cmd apt-get update -qq &&
       DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
         "${missing[@]}" >/dev/null; }; then
  if $optional; then
    echo "install: could not install ${missing[*]}; going on without them"
    exit 0
  fi
  echo "install: could not install ${missing[*]}" >&2
  exit 1
fi
