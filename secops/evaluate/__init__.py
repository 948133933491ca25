"""secops."""
