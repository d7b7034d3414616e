#!/usr/bin/env bash
# Installs whatever is missing for this stack, idempotently: Debian packages (as
# root, via apt), npm packages, the TypeScript build, the dev PKI and the fixtures.
# Called by `npm start` and `npm test`; safe to run again at any time.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }

# --- Debian packages ------------------------------------------------------------
# libpcsclite-dev must be there before npm builds the pcsclite addon.
PACKAGES=(libpcsclite-dev pcscd vsmartcard-vpcd pcsc-tools opensc softhsm2
          fonts-ipaexfont fonts-ipamj-mincho poppler-utils qpdf openssl chromium
          fonts-nanum cups-daemon cups-client libjemalloc2)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    say "not root and no sudo: please install ${missing[*]} and run again"; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
say "Debian packages ok"

# --- npm packages ---------------------------------------------------------------
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm install --no-audit --no-fund --loglevel=error
  # tap compiles its plugin set at build time; a fresh install still carries the
  # default set (with the ts-node loader this repo turns off for tsx), and tap
  # would only notice on its *second* run. Build it now so the first run is right.
  npx --no-install tap build >/dev/null
  touch node_modules/.package-lock.json
fi
say "npm packages ok"

# --- build ----------------------------------------------------------------------
npx --no-install tsc -b
say "build ok"

# --- dev PKI and fixtures (git-ignored, made once) --------------------------------
node certs/bin/konbini-pki.js generate --out var/pki
node fixtures/bin/konbini-fixtures.js generate --pki var/pki --out var/fixtures
# The cities' document-signing keys go into SoftHSM2 tokens (var/hsm); idempotent.
node city-cert-server/bin/city-cert.js hsm init --pki var/pki --out var/hsm
say "dev PKI, fixtures and signing tokens ok (var/pki, var/fixtures, var/hsm)"
