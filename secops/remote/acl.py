"""Redis ACL users from policies/sites.yaml: one user per site, confined to its own keys, and the central user.

A site's scanner may consume only its own queue (`secops.site.<CODE>` and its priority lists), keep its
own unacknowledged-message hash, write only results whose task id starts with `<CODE>:` (the central
side names tasks so), write its own heartbeats, and read (never write) the central side's "closed" marks
for its own tasks. It cannot read another site's queue, publish a task, or write another site's result.
The `default` user is switched off. Passwords are random; the ACL file holds only their SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from secops.discover.sites import CENTRAL_USER, SitesFile, broker_user, queue_name
from secops.remote.celery_app import CLOSED_PREFIX, HEARTBEAT_PREFIX, RESULT_PREFIX, unacked_keys

# What a scanner's Celery worker and result backend use; no admin, no KEYS/FLUSH/CONFIG/DEBUG (@dangerous).
SITE_COMMANDS = ("-@all +@connection +@read +@write +@keyspace +@list +@hash +@sortedset +@set +@string "
                 "+@transaction +@scripting +@pubsub -@dangerous")
CENTRAL_COMMANDS = SITE_COMMANDS  # the same commands, on every key and channel


def site_rules(code: str) -> str:
    queue = queue_name(code)
    unacked = unacked_keys(code)
    keys = [queue, f"{queue}[^-A-Za-z0-9_.]*",  # kombu's priority lists: QUEUE\x06\x16N
            f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}",
            unacked["unacked_key"], unacked["unacked_index_key"], unacked["unacked_mutex_key"],
            f"{RESULT_PREFIX}{code}:*", f"{HEARTBEAT_PREFIX}{code}:*"]
    return " ".join(["resetkeys", "resetchannels", *[f"~{k}" for k in keys], f"%R~{CLOSED_PREFIX}{code}:*",
                     f"&{RESULT_PREFIX}{code}:*", SITE_COMMANDS])


def central_rules() -> str:
    return f"resetkeys resetchannels ~* &* {CENTRAL_COMMANDS}"


@dataclass(frozen=True)
class Account:
    user: str
    password: str
    rules: str

    def acl_line(self) -> str:
        digest = hashlib.sha256(self.password.encode()).hexdigest()
        return f"user {self.user} on #{digest} {self.rules}"


def _known_password(url_file: Path) -> str | None:
    if not url_file.exists():
        return None
    try:
        return urlsplit(url_file.read_text(encoding="utf-8").strip()).password
    except (OSError, ValueError):
        return None


def accounts(sites: SitesFile, secrets_dir: Path) -> list[Account]:
    """The central user and one per site; a password already in SECRETS_DIR/<user>.url is kept."""
    wanted = [(CENTRAL_USER, central_rules())] + [(broker_user(s.code), site_rules(s.code)) for s in sites.sites]
    return [Account(user, _known_password(secrets_dir / f"{user}.url") or secrets.token_urlsafe(24), rules)
            for user, rules in wanted]


def acl_text(found: list[Account]) -> str:
    # An ACL file takes no comments. Load it with `aclfile /etc/redis/secops.acl` in redis.conf.
    lines = ["user default off resetkeys resetchannels -@all"]
    return "\n".join(lines + [a.acl_line() for a in found]) + "\n"


def broker_url_for(account: Account, host: str, port: int, tls: bool, db: int = 0) -> str:
    scheme = "rediss" if tls else "redis"
    host_part = f"[{host}]" if ":" in host else host
    return f"{scheme}://{quote(account.user, safe='')}:{quote(account.password, safe='')}@{host_part}:{port}/{db}"
