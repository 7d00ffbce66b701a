#!/bin/sh
# Make the TLS files of the broker's 8883 listener with openssl: a private CA, a broker certificate and,
# optionally, one client certificate per device (for `require_certificate true`).
#
# Usage: make-certs.sh OUT_DIR [BROKER_NAME...]
#   BROKER_NAME: each DNS name or IP address devices use to reach the broker (the certificate's
#                subjectAltName), e.g. make-certs.sh deploy/mosquitto/certs mqtt.store.lan 192.168.10.2
#   SMARTSTORE_MQTT_TLS_NAMES     the names when none is given (default "mosquitto localhost 127.0.0.1")
#   SMARTSTORE_MQTT_CLIENT_CERTS  space-separated MQTT usernames (e.g. store-berlin-01/rfid/reader-aisle-1)
#                to make a client certificate for; its CN is the username (optional).
#   SMARTSTORE_MQTT_KEY_OWNER     user (name or uid) to own server.key, the broker's (default: user
#                mosquitto if it exists here); docker-compose.yml sets 1883, the broker's uid in its image.
#
# Writes ca.crt (give it to every client: `ca_file`), ca.key (keep it offline: it signs everything),
# server.crt + server.key (the broker's), and clients/<username with / as _>.crt + .key. Only missing files
# are made: an existing file is never rewritten, so running it again (docker compose does, at every `up`)
# changes nothing, and adds client certificates signed by the same CA. Each file appears whole (written
# aside, then renamed). To re-issue the broker's certificate for other names, delete server.crt and
# server.key and run it again. Keys are readable by their owner only.
set -eu

out="${1:?usage: make-certs.sh OUT_DIR [BROKER_NAME...]}"
shift
if [ "$#" -eq 0 ]; then
    # shellcheck disable=SC2086  # a space-separated list, split on purpose
    set -- ${SMARTSTORE_MQTT_TLS_NAMES:-mosquitto localhost 127.0.0.1}
fi
[ "$#" -gt 0 ] || { echo "make-certs.sh: name at least one BROKER_NAME (DNS name or IP)" >&2; exit 2; }
umask 077
mkdir -p "$out/clients"
days_ca=3650
days_leaf=825
# ECDSA P-256: small, fast handshakes, supported by Mosquitto, paho and every current TLS stack.
newkey="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

if [ ! -f "$out/ca.crt" ]; then
    if [ -f "$out/server.crt" ]; then
        # A new CA would not have signed the broker certificate devices already check against the old one.
        echo "make-certs.sh: $out/server.crt exists but its CA $out/ca.crt is missing; restore ca.crt and" \
            "ca.key, or delete server.crt and server.key to start a new CA" >&2
        exit 1
    fi
    # shellcheck disable=SC2086
    openssl req -x509 $newkey -days "$days_ca" -subj "/CN=smartstore MQTT CA" \
        -keyout "$out/ca.key.new" -out "$out/ca.crt.new" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    mv "$out/ca.key.new" "$out/ca.key"
    mv "$out/ca.crt.new" "$out/ca.crt"  # last: ca.crt present means the CA is complete
    echo "make-certs.sh: CA $out/ca.crt"
fi

sign() {  # sign NAME SUBJECT EXTENSIONS: NAME.key + NAME.crt signed by the CA
    # shellcheck disable=SC2086
    openssl req $newkey -subj "$2" -keyout "$1.key.new" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$3" > "$1.ext"
    # A random serial: no serial file that a second run would rewrite.
    openssl x509 -req -in "$1.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" \
        -days "$days_leaf" -extfile "$1.ext" -out "$1.crt.new" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
    mv "$1.key.new" "$1.key"
    mv "$1.crt.new" "$1.crt"
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
else
    echo "make-certs.sh: kept $out/server.crt (delete it and server.key to re-issue it for other names)"
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
chmod 0755 "$out"  # the broker's user enters it (umask 077 made it private)
# The broker must read its key: in the eclipse-mosquitto image it runs as user mosquitto (uid 1883).
owner="${SMARTSTORE_MQTT_KEY_OWNER:-}"
if [ -z "$owner" ] && id mosquitto >/dev/null 2>&1; then
    owner=mosquitto
fi
if [ -n "$owner" ]; then
    chown "$owner" "$out/server.key"
fi
