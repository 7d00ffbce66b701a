"""smartstore edge."""
