#!/usr/bin/env bash
# Makes a throwaway RFC 3161 test PKI in DIR with the openssl CLI: a CA
# (ca.pem, ca.key), a TSA certificate signed by it (tsa.pem, tsa.key;
# extendedKeyUsage critical timeStamping, as RFC 3161 §2.3 requires),
# a second unrelated CA (other-ca.pem) to test refusals, and tsa.cnf for
# `openssl ts -reply -config DIR/tsa.cnf` (default policy 1.3.6.1.4.1.59999.1,
# also allowed 1.3.6.1.4.1.59999.2). P-256 keys: made in milliseconds.
# Used by ops/tests/timestamp.sh and by the GreffeTimestamp unit tests.
#
#   tsa-ca.sh DIR --tsa NAME SECONDS   (after the above, in the same DIR)
# also issues NAME.pem / NAME.key, a TSA certificate from the same CA valid
# from an hour ago to SECONDS from now, and NAME.cnf to answer with it: for
# the renewal tests, which need a certificate that expires soon or later
# than tsa.pem.
set -euo pipefail
dir=${1:?usage: tsa-ca.sh DIR [--tsa NAME SECONDS]}
mkdir -p "$dir"
cd "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
if [[ ${2:-} == --tsa ]]; then
    name=${3:?usage: tsa-ca.sh DIR --tsa NAME SECONDS}
    seconds=${4:?usage: tsa-ca.sh DIR --tsa NAME SECONDS}
    [[ $name =~ ^[a-z0-9-]+$ ]] || { echo "tsa-ca.sh: NAME must be lower-case letters, digits and -" >&2; exit 2; }
    openssl req "${ec[@]}" -keyout "$name.key" -out "$name.csr" -subj "/O=Greffe Test/CN=Greffe Test TSA $name" 2>/dev/null
    # `openssl x509 -req` sets validity in whole days only; `openssl ca` takes exact dates.
    mkdir -p ca-db
    [[ -f ca-db/index.txt ]] || : > ca-db/index.txt
    [[ -f ca-db/serial ]] || echo 10 > ca-db/serial
    cat > ca-db/ca.cnf <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $PWD/ca-db/index.txt
new_certs_dir = $PWD/ca-db
serial = $PWD/ca-db/serial
default_md = sha256
policy = any
unique_subject = no
[ any ]
organizationName = optional
commonName = supplied
CNF
    openssl ca -batch -notext -config ca-db/ca.cnf -cert ca.pem -keyfile ca.key -in "$name.csr" -out "$name.pem" \
        -startdate "$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d "+$seconds seconds" +%Y%m%d%H%M%SZ)" \
        -extfile tsa-ext.cnf 2>/dev/null
    sed -e "s#/tsa.pem#/$name.pem#" -e "s#/tsa.key#/$name.key#" tsa.cnf > "$name.cnf"
    exit 0
fi
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -subj "/O=Greffe Test/CN=Greffe Test CA" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -x509 "${ec[@]}" -keyout other-ca.key -out other-ca.pem -subj "/O=Elsewhere/CN=Unrelated CA" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req "${ec[@]}" -keyout tsa.key -out tsa.csr -subj "/O=Greffe Test/CN=Greffe Test TSA" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,nonRepudiation" \
    "extendedKeyUsage=critical,timeStamping" > tsa-ext.cnf
openssl x509 -req -in tsa.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 3650 -extfile tsa-ext.cnf -out tsa.pem 2>/dev/null
echo 01 > serial
cat > tsa.cnf <<CNF
[ tsa ]
default_tsa = greffe_test_tsa
[ greffe_test_tsa ]
dir = $PWD
serial = \$dir/serial
crypto_device = builtin
signer_cert = \$dir/tsa.pem
certs = \$dir/ca.pem
signer_key = \$dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.59999.1
other_policies = 1.3.6.1.4.1.59999.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
CNF
