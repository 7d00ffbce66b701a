#!/bin/sh
# Write a Mosquitto password file from environment variables (never from arguments: they show in ps).
#
#   SMARTSTORE_MQTT_GATEWAY_PASSWORD   password of user gateway-1      (required)
#   SMARTSTORE_MQTT_EDGE_PASSWORD      password of user edge-1         (required)
#   SMARTSTORE_MQTT_SIM_PASSWORD       password of user sim            (optional: no sim user without it)
#   SMARTSTORE_MQTT_DEVICE_PASSWORDS   "device-id:password ..." for real devices (optional)
#
# Usage: make-passwd.sh OUTPUT_FILE     (needs mosquitto_passwd, e.g. in the eclipse-mosquitto image)
set -eu

out="${1:?usage: make-passwd.sh OUTPUT_FILE}"
: "${SMARTSTORE_MQTT_GATEWAY_PASSWORD:?is not set (see deploy/.env.example)}"
: "${SMARTSTORE_MQTT_EDGE_PASSWORD:?is not set (see deploy/.env.example)}"

tmp="${out}.new"
rm -f "$tmp"
: > "$tmp"
chmod 0600 "$tmp"
add() {
    mosquitto_passwd -b "$tmp" "$1" "$2"
}
add gateway-1 "$SMARTSTORE_MQTT_GATEWAY_PASSWORD"
add edge-1 "$SMARTSTORE_MQTT_EDGE_PASSWORD"
if [ -n "${SMARTSTORE_MQTT_SIM_PASSWORD:-}" ]; then
    add sim "$SMARTSTORE_MQTT_SIM_PASSWORD"
fi
for pair in ${SMARTSTORE_MQTT_DEVICE_PASSWORDS:-}; do
    device="${pair%%:*}"
    secret="${pair#*:}"
    if [ -z "$device" ] || [ "$device" = "$pair" ] || [ -z "$secret" ]; then
        echo "make-passwd.sh: SMARTSTORE_MQTT_DEVICE_PASSWORDS entries must be device-id:password" >&2
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
