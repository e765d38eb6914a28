#!/usr/bin/env bash
# Test certificates for netcore's TLS tests, made with the openssl CLI into
# the directory given (never downloaded; nothing here contacts the network).
# Every key is ECDSA P-256. Files (certificate NAME.pem, key NAME.key):
#   ca            the test CA (self-signed)
#   server        localhost, 127.0.0.1 and ::1, issued by ca
#   expired       like server, but expired (valid 2020-01-01 to 2020-01-02)
#   wrongname     only for wrong.invalid, issued by ca
#   client        a client certificate (CN netcore-test-client), issued by ca
#   other-ca      another CA nobody trusts
#   untrusted     like server, issued by other-ca
# Usage: make-certs.sh OUTDIR
set -euo pipefail

out=${1:?usage: make-certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

# ca NAME SUBJECT: a self-signed CA.
ca() {
    key "$1"
    openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 3650 -sha256 -out "$1.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

# leaf NAME ISSUER CN SAN EKU [openssl x509 date options...]: a leaf certificate.
leaf() {
    local name=$1 issuer=$2 cn=$3 san=$4 eku=$5
    shift 5
    key "$name"
    openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s\n' \
        "$eku" "${san:+subjectAltName=$san}" > "$name.ext"
    openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer.key" -CAcreateserial \
        -sha256 -extfile "$name.ext" -out "$name.pem" "$@" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
}

localhost='DNS:localhost,IP:127.0.0.1,IP:::1'
ca ca "netcore test CA"
leaf server ca localhost "$localhost" serverAuth -days 3650
leaf wrongname ca wrong.invalid DNS:wrong.invalid serverAuth -days 3650
leaf client ca netcore-test-client "" clientAuth -days 3650
ca other-ca "netcore untrusted CA"
leaf untrusted other-ca localhost "$localhost" serverAuth -days 3650

# Expired: signed by hand with `openssl ca`, whose -startdate/-enddate set
# both ends in the past (x509 -req cannot backdate on OpenSSL 3.0).
key expired
openssl req -new -key expired.key -subj "/CN=localhost" -out expired.csr
mkdir -p ca-db
: > ca-db/index.txt
printf '1000\n' > ca-db/serial
cat > ca-db/ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = leaf
[any]
commonName = supplied
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $localhost
CNF
openssl ca -batch -config ca-db/ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
    -startdate 20200101000000Z -enddate 20200102000000Z -notext 2>/dev/null
rm -rf ca-db expired.csr ca.srl other-ca.srl
