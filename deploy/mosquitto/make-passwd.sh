#!/bin/sh
# Write a Mosquitto password file from environment variables (never from arguments: they show in ps).
#
# Every username but the gateway's carries its store (deploy/mosquitto/acl binds it to that store):
#   SMARTSTORE_MQTT_GATEWAY_PASSWORD   password of user gateway-1 (the one cross-store credential; required)
#   SMARTSTORE_MQTT_EDGE_PASSWORD      password of the edge agent (required)
#   SMARTSTORE_MQTT_EDGE_USER          its username (default store-berlin-01/edge/edge-1)
#   SMARTSTORE_MQTT_SIM_PASSWORD       password of the simulator (optional: no sim user without it)
#   SMARTSTORE_MQTT_SIM_USER           its username (default store-berlin-01/sim)
#   SMARTSTORE_MQTT_DEVICE_PASSWORDS   "<store>/<rfid|camera|locker>/<device-id>:password ..." for real
#                                      devices (optional; `python -m smartstore.launcher.mqtt_credentials
#                                      STORE_FILE --env .env` writes it from the store file)
#
# Usage: make-passwd.sh OUTPUT_FILE     (needs mosquitto_passwd, e.g. in the eclipse-mosquitto image)
set -eu

out="${1:?usage: make-passwd.sh OUTPUT_FILE}"
: "${SMARTSTORE_MQTT_GATEWAY_PASSWORD:?is not set (see deploy/.env.example)}"
: "${SMARTSTORE_MQTT_EDGE_PASSWORD:?is not set (see deploy/.env.example)}"
edge_user="${SMARTSTORE_MQTT_EDGE_USER:-store-berlin-01/edge/edge-1}"
sim_user="${SMARTSTORE_MQTT_SIM_USER:-store-berlin-01/sim}"

tmp="${out}.new"
rm -f "$tmp"
: > "$tmp"
chmod 0600 "$tmp"
add() {
    mosquitto_passwd -b "$tmp" "$1" "$2"
}
add gateway-1 "$SMARTSTORE_MQTT_GATEWAY_PASSWORD"
add "$edge_user" "$SMARTSTORE_MQTT_EDGE_PASSWORD"
if [ -n "${SMARTSTORE_MQTT_SIM_PASSWORD:-}" ]; then
    add "$sim_user" "$SMARTSTORE_MQTT_SIM_PASSWORD"
fi
for pair in ${SMARTSTORE_MQTT_DEVICE_PASSWORDS:-}; do
    device="${pair%%:*}"
    secret="${pair#*:}"
    # A device's username is <store>/<kind>/<id>: the ACL grants it smartstore/v1/<username>/..., so a
    # bare id (the old form) would be granted nothing, and + or # would be refused by Mosquitto anyway.
    case "$device" in
        */rfid/* | */camera/* | */locker/*) valid=yes ;;
        *) valid=no ;;
    esac
    case "$device" in
        */*/*/* | *[+#]* | /* | */) valid=no ;;
    esac
    if [ "$valid" = no ] || [ "$device" = "$pair" ] || [ -z "$secret" ]; then
        echo "make-passwd.sh: SMARTSTORE_MQTT_DEVICE_PASSWORDS entries must be <store>/<rfid|camera|locker>/<device-id>:password, not '${device}'" >&2
        exit 2
    fi
    add "$device" "$secret"
done
# Mosquitto 2 refuses password files other users can read; inside the image it runs as "mosquitto".
if id mosquitto >/dev/null 2>&1; then
    chown mosquitto:mosquitto "$tmp"
fi
mv "$tmp" "$out"
echo "make-passwd.sh: wrote $(wc -l < "$out") users to $out"
