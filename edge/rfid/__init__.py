"""The edge RFID pipeline: wire reads -> normalized reads -> tag presence per zone -> counts and alerts."""
