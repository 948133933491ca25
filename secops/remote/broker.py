"""The broker URL: from an option, SECOPS_BROKER_URL or a secret file; never printed with its password."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from secops.errors import SecopsError
from secops.i18n import _

SCHEMES = ("redis", "rediss")


def redact(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable broker URL>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _from_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecopsError(_("{path}: cannot read the broker URL file: {error}").format(
            path=path, error=exc.strerror or exc)) from exc
    url = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not url:
        raise SecopsError(_("{path}: the broker URL file is empty").format(path=path))
    return url


def broker_url(explicit: str | None = None, url_file: Path | None = None) -> str | None:
    """--broker / --broker-file, else SECOPS_BROKER_URL / SECOPS_BROKER_URL_FILE, else None (in-process)."""
    url, origin = explicit, "--broker"
    if url is None and url_file:
        url, origin = _from_file(url_file), f"--broker-file {url_file}"
    if url is None and os.environ.get("SECOPS_BROKER_URL"):
        url, origin = os.environ["SECOPS_BROKER_URL"], "SECOPS_BROKER_URL"
    if url is None and os.environ.get("SECOPS_BROKER_URL_FILE"):
        path = Path(os.environ["SECOPS_BROKER_URL_FILE"])
        url, origin = _from_file(path), f"SECOPS_BROKER_URL_FILE ({path})"
    if url is None:
        return None
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in SCHEMES:
        raise SecopsError(_("{origin}: broker URL {url}: use redis://HOST:PORT/DB or rediss:// (TLS)").format(
            origin=origin, url=repr(redact(url))))
    check_url(url, origin)
    return url


def require_auth(url: str, allow_unauthenticated: bool) -> str:
    """A broker URL must carry a password (with its ACL user, redis://USER:PASSWORD@HOST:PORT/DB)."""
    try:
        password = urlsplit(url).password
    except ValueError as exc:
        raise SecopsError(_("the broker URL cannot be parsed")) from exc
    if not password and not allow_unauthenticated:
        raise SecopsError(_("broker URL {url} has no password: refused (anyone on the network could read and publish "
                            "tasks). Use the site's ACL user: redis://USER:PASSWORD@HOST:PORT/DB; "
                            "`allow_unauthenticated_broker: true` in sites.yaml is for loopback tests only").format(
            url=repr(redact(url))))
    return url


def endpoint(url: str) -> str:
    """HOST:PORT of a broker URL, for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        return f"[{host}]:{parts.port or 6379}" if ":" in host else f"{host}:{parts.port or 6379}"
    except ValueError:
        return "<unparsable broker URL>"


def check_url(url: str, origin: str) -> None:
    """Refuse a broker URL the Redis client would fail on later with its own words (a port that is
    not a number, a database that is not one), naming the setting it came from."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for "host:6391:1" or a port out of range
        host = parts.hostname
    except ValueError as exc:
        raise SecopsError(_("{origin}: broker URL {url} is malformed ({error}); use redis://[:PASSWORD@]HOST:PORT/DB").format(
            origin=origin, url=repr(redact_unparsable(url)), error=exc)) from None
    if not host:
        raise SecopsError(_("{origin}: broker URL {url} has no host; use redis://HOST:PORT/DB").format(
            origin=origin, url=repr(redact(url))))
    database = parts.path.strip("/")
    if database and not (database.isascii() and database.isdigit()):
        raise SecopsError(_("{origin}: broker URL {url}: the database {database} is not a number; use "
                            "redis://HOST:PORT/DB").format(origin=origin, url=repr(redact(url)), database=repr(database)))
    del port


def redact_unparsable(url: str) -> str:
    """A URL urlsplit cannot read: the part after the last '@' before the host stays hidden."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"
