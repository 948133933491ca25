"""The web console and the read-only API (`secops serve`): an ASGI app over the same stores and
validators as the command line. See rules.py for who may do what."""
