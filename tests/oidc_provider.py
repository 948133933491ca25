"""A small OpenID Connect provider on loopback for the console's single sign-on tests.

Real HTTP (http.server on 127.0.0.1, a free port), the authorisation code flow as a provider runs it:
discovery document, published keys (JWKS), `/authorize` (the test says who has signed in at the
provider; it checks the client and redirect URI and keeps the PKCE challenge and nonce with a
single-use code), `/token` (client secret by HTTP Basic, the code once, the redirect URI, the PKCE
verifier) answering with an ID token signed RS256 by a key made for the run (joserfc, Authlib's
JOSE library; the S256 challenge with Authlib's own function). Knobs for the refusal tests: a
wrong nonce, a wrong audience, a token signed by a key that is not published.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Provider:
    def __init__(self, client_id: str, client_secret: str) -> None:
        from joserfc.jwk import RSAKey

        self.client_id, self.client_secret = client_id, client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.user: dict[str, Any] = {}  # the claims of whoever has signed in at the provider
        self.codes: dict[str, dict[str, Any]] = {}
        self.redirect_uris: set[str] = set()
        self.wrong_nonce = False
        self.wrong_audience = False
        self.unpublished_key = False
        self.token_requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.issuer = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> str:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                provider._get(self)

            def do_POST(self) -> None:
                provider._post(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self.issuer

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- HTTP ------------------------------------------------------------------------------------
    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: Any = None,
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if body is not None:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        from joserfc.jwk import KeySet

        url = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/.well-known/openid-configuration":
            self._send(handler, 200, {
                "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"]})
        elif url.path == "/jwks":
            self._send(handler, 200, KeySet([self.key]).as_dict(private=False))
        elif url.path == "/authorize":
            ok = (query.get("response_type") == "code" and query.get("client_id") == self.client_id
                  and query.get("redirect_uri") in self.redirect_uris and query.get("code_challenge_method") == "S256"
                  and query.get("code_challenge") and query.get("state") and "openid" in query.get("scope", "").split())
            if not ok:
                self._send(handler, 400, {"error": "invalid_request"})
                return
            code = secrets.token_urlsafe(24)
            self.codes[code] = {"challenge": query["code_challenge"], "nonce": query.get("nonce"),
                                "redirect_uri": query["redirect_uri"], "user": dict(self.user)}
            back = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
            self._send(handler, 302, headers={"Location": back})
        else:
            self._send(handler, 404, {"error": "not_found"})

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        self.token_requests += 1
        length = int(handler.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(handler.rfile.read(length).decode()))
        basic = handler.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if urllib.parse.urlsplit(handler.path).path != "/token" or not secrets.compare_digest(basic, expected):
            self._send(handler, 401, {"error": "invalid_client"})
            return
        grant = self.codes.pop(form.get("code", ""), None)  # a code is used once
        if (grant is None or form.get("grant_type") != "authorization_code"
                or form.get("redirect_uri") != grant["redirect_uri"]
                or create_s256_code_challenge(form.get("code_verifier", "")) != grant["challenge"]):
            self._send(handler, 400, {"error": "invalid_grant"})
            return
        self._send(handler, 200, {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer",
                                  "expires_in": 300, "id_token": self._id_token(grant)})

    def _id_token(self, grant: dict[str, Any]) -> str:
        from joserfc import jwt
        from joserfc.jwk import RSAKey

        now = int(time.time())
        claims = {"iss": self.issuer, "sub": grant["user"].get("preferred_username", "x"),
                  "aud": "someone-else" if self.wrong_audience else self.client_id, "iat": now, "exp": now + 300,
                  "nonce": "not-the-nonce" if self.wrong_nonce else grant["nonce"], **grant["user"]}
        key = RSAKey.generate_key(2048, parameters={"kid": "k1"}) if self.unpublished_key else self.key
        return str(jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key))
