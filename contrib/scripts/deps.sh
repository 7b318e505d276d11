#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what building and testing loktfs needs on Debian 12, if missing.
# Runs apt-get (update once, then install) only when a package is absent.
set -euo pipefail

pkgs=(gcc libc6-dev pkg-config meson ninja-build python3 git
      libjson-c-dev libfuse3-dev fuse3 libcriterion-dev
      procps psmisc util-linux passwd
      libcurl4-openssl-dev etcd-server etcd-client curl # etcd client, tests
      debhelper dpkg-dev lintian # Debian packages
      clang libclang-rt-14-dev strace # fuzzing (libFuzzer), fault tests
      zsh fish # the completions, driven in real shells
      libmicrohttpd-dev # loktd, the HTTP door
      jq chromium openssl) # loktd's tests: answers read as CI scripts do,
                           # the dashboard in a real browser, a TLS cert

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
