#!/usr/bin/env bash
# Installs those of the Debian packages named that are missing, as tools/setup.sh does
# (apt-get, with sudo when not root). Never fails its caller: a package it cannot install
# costs only the rows or pictures that need it, and the benchmark says which.
#   bench/install_packages.sh PACKAGE...
set -uo pipefail
missing=()
for package in "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
((${#missing[@]})) || exit 0
echo "bench: installing ${missing[*]}"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
if ! { $sudo_cmd apt-get update -qq &&
       DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
         "${missing[@]}" >/dev/null; }; then
  echo "bench: could not install ${missing[*]}; the benchmark runs without them"
fi
exit 0
