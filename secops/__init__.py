"""secops: agentless compliance scanning and grading for a level-based security programme."""

__version__ = "0.1.0"
