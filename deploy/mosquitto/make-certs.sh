#!/bin/sh
# Make the TLS files of the broker's 8883 listener with openssl: a private CA, a broker certificate and,
# optionally, one client certificate per device (for `require_certificate true`).
#
# Usage: make-certs.sh OUT_DIR BROKER_NAME [BROKER_NAME...]
#   BROKER_NAME: each DNS name or IP address devices use to reach the broker (the certificate's
#                subjectAltName), e.g. make-certs.sh deploy/mosquitto/certs mqtt.store.lan 192.168.10.2
#   SMARTSTORE_MQTT_CLIENT_CERTS  space-separated MQTT usernames (e.g. store-berlin-01/rfid/reader-aisle-1)
#                to make a client certificate for; its CN is the username (optional).
#
# Writes ca.crt (give it to every client: `ca_file`), ca.key (keep it offline: it signs everything),
# server.crt + server.key (the broker's), and clients/<username with / as _>.crt + .key. Files that exist
# are kept: run it again to add client certificates signed by the same CA. Keys are readable by the
# owner only.
set -eu

out="${1:?usage: make-certs.sh OUT_DIR BROKER_NAME [BROKER_NAME...]}"
shift
[ "$#" -gt 0 ] || { echo "make-certs.sh: name at least one BROKER_NAME (DNS name or IP)" >&2; exit 2; }
umask 077
mkdir -p "$out/clients"
days_ca=3650
days_leaf=825
# ECDSA P-256: small, fast handshakes, supported by Mosquitto, paho and every current TLS stack.
newkey="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

if [ ! -f "$out/ca.crt" ]; then
    # shellcheck disable=SC2086
    openssl req -x509 $newkey -days "$days_ca" -subj "/CN=smartstore MQTT CA" \
        -keyout "$out/ca.key" -out "$out/ca.crt" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    echo "make-certs.sh: CA $out/ca.crt"
fi

sign() {  # sign NAME SUBJECT EXTENSIONS: NAME.key + NAME.crt signed by the CA
    # shellcheck disable=SC2086
    openssl req $newkey -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
        -days "$days_leaf" -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

if [ ! -f "$out/server.crt" ]; then
    san=""
    for name in "$@"; do
        case "$name" in
            *[!0-9.]* ) entry="DNS:$name" ;;
            * ) entry="IP:$name" ;;
        esac
        case "$name" in *:*) entry="IP:$name" ;; esac  # IPv6
        san="${san:+$san,}$entry"
    done
    sign "$out/server" "/CN=$1" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san"
    echo "make-certs.sh: broker certificate $out/server.crt for $san"
fi

for user in ${SMARTSTORE_MQTT_CLIENT_CERTS:-}; do
    file="$out/clients/$(printf '%s' "$user" | tr '/' '_')"
    if [ ! -f "$file.crt" ]; then
        # "/" separates the parts of an openssl subject: escape the ones inside the username.
        sign "$file" "/CN=$(printf '%s' "$user" | sed 's|/|\\/|g')" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
        echo "make-certs.sh: client certificate $file.crt (CN=$user)"
    fi
done
chmod 0644 "$out/ca.crt" "$out/server.crt"
# The broker must read its key: in the eclipse-mosquitto image it runs as user mosquitto (uid 1883).
if id mosquitto >/dev/null 2>&1; then
    chown mosquitto "$out/server.key"
fi
