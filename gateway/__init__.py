"""smartstore gateway."""
