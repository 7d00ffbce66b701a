"""smartstore dashboard."""
