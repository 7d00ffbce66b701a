"""smartstore models."""
