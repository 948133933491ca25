"""OpenID Connect sign-in (optional: `oidc:` in policies/console.yaml), with Authlib.

The authorisation code flow with PKCE (S256), a random `state` and `nonce`:
- `/oidc/start` reads the provider's discovery document (its `issuer` must be the configured one),
  keeps state, nonce and the PKCE verifier in a short-lived cookie sealed with the console key
  (HttpOnly, SameSite=Lax so that it comes back with the provider's redirect, path /oidc/) and sends
  the browser to the provider;
- `/oidc/callback` accepts only the state it sealed (constant-time compare), exchanges the code at
  the token endpoint with the client secret (read from its file, never stored or logged) and the
  verifier, and accepts the ID token only if its signature verifies with the provider's published
  keys and its issuer, audience, expiry and nonce are right. The user's groups/claims are matched
  against `mappings`: the first match gives the role and agency; no match, no sign-in.
The cookie is removed at the callback, so a callback is used once.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from secops.errors import SecopsError
from secops.users.policy import OidcMapping, OidcSettings

STATE_SECONDS = 600  # a sign-in at the provider must come back within this
CACHE_SECONDS = 3600  # discovery document and keys reused this long (keys refetched on an unknown kid)
ALGORITHMS = ["RS256", "PS256", "ES256"]


class Refused(SecopsError):
    """A sign-in by single sign-on refused (the reason is logged, the page says only that it failed)."""


@dataclass
class Provider:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    jwks: dict[str, Any]
    fetched: float


_cache: dict[str, Provider] = {}
_lock = threading.Lock()


def _get_json(url: str, timeout: int) -> dict[str, Any]:
    import requests

    reply = requests.get(url, timeout=timeout, allow_redirects=False)
    if reply.status_code != 200:
        raise Refused(f"{url}: HTTP {reply.status_code}")
    data = reply.json()
    if not isinstance(data, dict):
        raise Refused(f"{url}: not a JSON object")
    return data


def provider(settings: OidcSettings, *, refresh: bool = False) -> Provider:
    """The provider's endpoints and keys from its discovery document (cached)."""
    issuer = settings.issuer.rstrip("/")
    with _lock:
        known = _cache.get(issuer)
        if known is not None and not refresh and time.monotonic() - known.fetched < CACHE_SECONDS:
            return known
    meta = _get_json(f"{issuer}/.well-known/openid-configuration", settings.timeout_seconds)
    if str(meta.get("issuer", "")).rstrip("/") != issuer:
        raise Refused(f"discovery document of {issuer} names issuer {meta.get('issuer')!r}")
    try:
        found = Provider(str(meta["authorization_endpoint"]), str(meta["token_endpoint"]), str(meta["jwks_uri"]),
                         {}, time.monotonic())
    except KeyError as exc:
        raise Refused(f"discovery document of {issuer} lacks {exc}") from exc
    found.jwks = _get_json(found.jwks_uri, settings.timeout_seconds)
    with _lock:
        _cache[issuer] = found
    return found


def _client(settings: OidcSettings, redirect_uri: str) -> Any:
    from authlib.integrations.requests_client import OAuth2Session

    secret = settings.client_secret_file.read_text(encoding="utf-8").strip()
    return OAuth2Session(settings.client_id, secret, scope=" ".join(settings.scopes), redirect_uri=redirect_uri,
                         code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")


def start(settings: OidcSettings, redirect_uri: str) -> tuple[str, str]:
    """(the provider's authorisation URL, the sealed cookie value)."""
    from authlib.common.security import generate_token

    from secops.users.store import seal

    found = provider(settings)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    client = _client(settings, redirect_uri)
    url, _ = client.create_authorization_url(found.authorization_endpoint, state=state, nonce=nonce,
                                             code_verifier=verifier)
    sealed = seal(json.dumps({"state": state, "nonce": nonce, "verifier": verifier, "redirect": redirect_uri}))
    return str(url), sealed


def _claims(settings: OidcSettings, id_token: str, nonce: str) -> dict[str, Any]:
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    issuer = settings.issuer.rstrip("/")
    for attempt in (0, 1):  # keys refetched once: the provider may have rotated them
        keys = KeySet.import_key_set(provider(settings, refresh=attempt == 1).jwks)  # type: ignore[arg-type]
        try:
            token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            break
        except (JoseError, ValueError) as exc:
            if attempt == 1:
                raise Refused(f"ID token signature: {exc}") from exc
    registry = jwt.JWTClaimsRegistry(leeway=60, iss={"essential": True, "value": issuer},
                                     aud={"essential": True, "value": settings.client_id},
                                     sub={"essential": True}, exp={"essential": True},
                                     nonce={"essential": True, "value": nonce})
    claims = dict(token.claims)
    if str(claims.get("iss", "")).rstrip("/") == issuer:
        claims["iss"] = issuer  # a trailing slash is the same issuer
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise Refused(f"ID token claims: {exc}") from exc
    return claims


def _matches(mapping: OidcMapping, claims: dict[str, Any], groups_claim: str) -> bool:
    groups = claims.get(groups_claim) or []
    groups = [groups] if isinstance(groups, str) else list(groups) if isinstance(groups, list) else []
    if mapping.group is not None and mapping.group not in groups:
        return False
    return all(str(claims.get(k, "")) == v for k, v in mapping.claims.items())


def finish(settings: OidcSettings, sealed: str | None, state: str, code: str) -> tuple[str, OidcMapping]:
    """The callback: (user name, the mapping it matched), or Refused."""
    from secops.users.store import unseal

    kept = unseal(sealed, STATE_SECONDS) if sealed else None
    if kept is None:
        raise Refused("no sign-in in progress (or it took longer than 10 minutes)")
    saved = json.loads(kept)
    if not state or not secrets.compare_digest(state, str(saved["state"])):
        raise Refused("state does not match the sign-in in progress")
    if not code:
        raise Refused("the provider sent no code")
    found = provider(settings)
    client = _client(settings, str(saved["redirect"]))
    try:
        token = client.fetch_token(found.token_endpoint, code=code, code_verifier=str(saved["verifier"]),
                                   timeout=settings.timeout_seconds)
    except Exception as exc:  # the provider's refusal or a network error: no sign-in
        raise Refused(f"token endpoint: {type(exc).__name__}: {exc}") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise Refused("the token response holds no ID token")
    claims = _claims(settings, id_token, str(saved["nonce"]))
    name = claims.get(settings.name_claim)
    if not isinstance(name, str) or not name:
        raise Refused(f"the ID token has no {settings.name_claim!r} claim")
    mapping = next((m for m in settings.mappings if _matches(m, claims, settings.groups_claim)), None)
    if mapping is None:
        raise Refused(f"{name!r}: no mapping of policies/console.yaml matches its groups or claims")
    return name, mapping
