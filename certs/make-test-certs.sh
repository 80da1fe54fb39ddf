#!/usr/bin/env bash
# Generates Apple-like APNs test credentials with the openssl command line.
#
#   certs/make-test-certs.sh OUTPUT_DIR
#
# Needs OpenSSL 3 (for -legacy / -provider legacy). See certs/README.md for the file list.
# Everything is throwaway test material signed by a local CA; real APNs rejects it.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 OUTPUT_DIR" >&2
    exit 2
fi
command -v openssl >/dev/null || { echo "error: openssl command not found" >&2; exit 1; }

OUT=$1
BUNDLE=com.example.app
P12_PASSWORD=pushgate
mkdir -p "$OUT"
cd "$OUT"
umask 077

serial() { echo "0x$(openssl rand -hex 12)"; }

# ---------------------------------------------------------------- extension config
cat > apple-ext.cnf <<EOF
# x509v3 extension sections for push client certificates.
# 1.2.840.113635.100.6.3.1 = development, .3.2 = production, .3.6 = topic list.
[dev]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
1.2.840.113635.100.6.3.1 = ASN1:NULL

[prod]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
1.2.840.113635.100.6.3.2 = ASN1:NULL

[universal]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
1.2.840.113635.100.6.3.1 = ASN1:NULL
1.2.840.113635.100.6.3.2 = ASN1:NULL
1.2.840.113635.100.6.3.6 = ASN1:SEQUENCE:topics

[plain]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth

# Apple's layout: SEQUENCE { UTF8String topic, SEQUENCE { UTF8String kind }, ... }
[topics]
t1 = UTF8:$BUNDLE
k1 = SEQUENCE:kind_app
t2 = UTF8:$BUNDLE.voip
k2 = SEQUENCE:kind_voip
[kind_app]
k = UTF8:app
[kind_voip]
k = UTF8:voip
EOF

# ---------------------------------------------------------------- CA
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.pem -days 3650 -set_serial "$(serial)" \
    -subj "/CN=pushgate test CA/O=pushgate test" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# sign NAME SECTION SUBJECT: NAME.key must exist; writes NAME.pem (valid 365 days).
sign() {
    openssl req -new -key "$1.key" -subj "$3" -out "$1.csr"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "$(serial)" \
        -days 365 -sha256 -extfile apple-ext.cnf -extensions "$2" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr"
}

VOIP_SUBJ="/UID=$BUNDLE.voip/CN=VoIP Services: $BUNDLE/O=pushgate test/C=US"

# ---------------------------------------------------------------- leaf certificates
# Development only, EC P-256 key in PKCS#8.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out voip-dev.key
sign voip-dev dev "$VOIP_SUBJ"

# Production only, RSA 2048 key in PKCS#8.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out voip-prod.key 2>/dev/null
sign voip-prod prod "$VOIP_SUBJ"

# Universal (both OIDs + topic list), RSA 2048 key in PKCS#1 ("BEGIN RSA PRIVATE KEY").
openssl genrsa -traditional -out voip-universal.key 2048 2>/dev/null
sign voip-universal universal "/UID=$BUNDLE/CN=Apple Push Services: $BUNDLE/O=pushgate test/C=US"

# No Apple OIDs at all: accepted with a warning.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out self-made.key
sign self-made plain "/UID=$BUNDLE.voip/CN=pushgate self-made test/O=pushgate test/C=US"

# A key that belongs to none of the certificates.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out mismatched.key

# Expired and not-yet-valid certificates need explicit dates: use `openssl ca`.
mkdir -p ca-db/newcerts
: > ca-db/index.txt
openssl rand -hex 12 > ca-db/serial
cat > ca-db/ca.cnf <<EOF
[ca]
default_ca = testca
[testca]
dir = ca-db
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
[policy_any]
UID = optional
commonName = supplied
organizationName = optional
countryName = optional
EOF
dated() { # NAME START END
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"
    openssl req -new -key "$1.key" -subj "$VOIP_SUBJ" -out "$1.csr"
    openssl ca -batch -notext -preserveDN -config ca-db/ca.cnf -cert ca.pem -keyfile ca.key \
        -in "$1.csr" -out "$1.pem" -startdate "$2" -enddate "$3" \
        -extfile apple-ext.cnf -extensions universal 2>/dev/null
    rm -f "$1.csr"
}
dated expired 20200101000000Z 20210101000000Z
dated not-yet-valid 20990101000000Z 20991231000000Z
rm -rf ca-db

# ---------------------------------------------------------------- .p12 files
# Modern: AES-256-CBC + PBKDF2 for key and certificates, SHA-256 MAC.
openssl pkcs12 -export -in voip-universal.pem -inkey voip-universal.key -certfile ca.pem \
    -name "pushgate test" -keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256 \
    -passout "pass:$P12_PASSWORD" -out modern.p12
# Legacy, spelled out (what macOS Keychain produces): RC2-40 certs, 3DES key, SHA-1 MAC.
openssl pkcs12 -export -in voip-universal.pem -inkey voip-universal.key -certfile ca.pem \
    -name "pushgate test" -certpbe PBE-SHA1-RC2-40 -keypbe PBE-SHA1-3DES -macalg sha1 \
    -provider legacy -provider default \
    -passout "pass:$P12_PASSWORD" -out legacy.p12
# Legacy via OpenSSL 3's -legacy shorthand.
openssl pkcs12 -export -legacy -in voip-universal.pem -inkey voip-universal.key \
    -passout "pass:$P12_PASSWORD" -out legacy-flag.p12

# ---------------------------------------------------------------- token keys
# APNs auth key: PKCS#8 EC P-256 ("BEGIN PRIVATE KEY").
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out AuthKey_ABC123DEFG.p8
# Wrong curve: P-384 in PKCS#8.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.p8
# Wrong algorithm: RSA in PKCS#8.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.p8 2>/dev/null

chmod 644 ./*.pem apple-ext.cnf
echo "wrote test credentials to $OUT (p12 password: $P12_PASSWORD)"
