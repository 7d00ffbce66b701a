"""smartstore devices."""
