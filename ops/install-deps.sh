#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need (idempotent).
# Swift itself comes with the machine image.
set -euo pipefail

# postgresql-15: the storage suite and the failover test on PostgreSQL (ops/tests/pg.sh).
# chromium and chromium-driver: the browser tests of the web pages (ops/tests/browser.sh).
# libpng-dev and libjpeg62-turbo-dev: PNG and JPEG decoding for PDQ (Sources/CGreffeImage); needed to build.
# nodejs: runs web/pdq.js against the reference in ops/tests/pdq.sh.
# python3-venv: the Python client is pip-installed into a throwaway venv (ops/tests/pyclient.sh).
# openssl: the test CA and TSA (`openssl ts -reply`) of the RFC 3161 tests (ops/tests/tsa-ca.sh, timestamp.sh).
packages=(libsqlite3-dev libssl-dev libpng-dev libjpeg62-turbo-dev nodejs openssl golang-go golang-golang-x-mod-dev curl python3 python3-venv postgresql-15 chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python packages the schema-agreement test uses (python-jsonschema, Draft 2020-12 with format checks).
if ! python3 -c 'import jsonschema, referencing, rfc3339_validator' 2>/dev/null; then
    echo "installing: jsonschema rfc3339-validator (PyPI)"
    python3 -m pip install --quiet jsonschema rfc3339-validator
fi

# The witness test checks cosignatures with an independent Ed25519 (ops/tests/witness.sh), and the
# relay test (ops/tests/relay.py) forges checkpoints with the ledger's key through it;
# the ML-DSA test (ops/tests/mldsa.sh) needs cryptography >= 47, whose wheels' OpenSSL has ML-DSA.
if ! python3 -c 'from cryptography.hazmat.primitives.asymmetric import mldsa; mldsa.MLDSA65PrivateKey.generate()' 2>/dev/null; then
    echo "installing: cryptography>=47 (PyPI)"
    python3 -m pip install --quiet 'cryptography>=47'
fi

# The COSE receipt test (ops/tests/cose.py) verifies receipts with an independent COSE
# implementation. pycose 1.1 reads COSE arrays as lists; cbor2 6 decodes tagged arrays as
# tuples, which pycose refuses, so cbor2 stays below 6.
if ! python3 -c 'import pycose, sys; from importlib.metadata import version; sys.exit(int(version("cbor2").split(".")[0]) >= 6)' 2>/dev/null; then
    echo "installing: pycose cbor2<6 (PyPI)"
    python3 -m pip install --quiet pycose 'cbor2<6'
fi

# The PDQ agreement test (ops/tests/pdq.sh): Meta's reference as the pdqhash
# package builds it (an sdist: pip builds it with numpy and Cython, which its
# pyproject.toml names as build requirements), Pillow to make the images
# (also the lookup page's test pictures, ops/tests/lookup_page.py).
if ! python3 -c 'import pdqhash, PIL, numpy' 2>/dev/null; then
    echo "installing: pdqhash Pillow numpy (PyPI)"
    python3 -m pip install --quiet pdqhash Pillow numpy
fi

# The Python client's tests (ops/tests/pyclient.sh) run under pytest.
if ! python3 -c 'import pytest' 2>/dev/null; then
    echo "installing: pytest (PyPI)"
    python3 -m pip install --quiet pytest
fi

# Selenium drives Chromium in the browser tests (ops/tests/browser.py); it uses
# Debian's chromedriver, never a downloaded one.
if ! python3 -c 'import selenium' 2>/dev/null; then
    echo "installing: selenium (PyPI)"
    python3 -m pip install --quiet selenium
fi

# The ops/ checks: nginx serves the static tiles (ops/tests/static-tiles.sh);
# promtool comes with Debian's prometheus package (no separate promtool
# package in bookworm). Only when missing: prometheus is ~100 MB.
# Without recommends (no node exporter). On a host running systemd this also
# enables the packages' services; this CI container's policy-rc.d keeps them stopped.
ops_missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || ops_missing+=(nginx)
command -v promtool >/dev/null 2>&1 || ops_missing+=(prometheus)
if [ ${#ops_missing[@]} -gt 0 ]; then
    echo "installing: ${ops_missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${ops_missing[@]}" >/dev/null
fi
