"""How a connection gets its bearer token: none (a local server), OAuth2 client credentials with a secret
(athenahealth, CureMD), or SMART Backend Services with a signed JWT client assertion (Epic; any SMART server).

Tokens are cached per connection in the cache (Redis), encrypted like PHI (billy.phi: a token is a key to
every patient of the practice), until a minute before they expire. A 401 drops the cached token
(integrations.http refreshes once). The token endpoint's refusals are EMRErrors like any other call's.

SMART Backend Services (https://hl7.org/fhir/smart-app-launch/backend-services.html): the client posts
grant_type=client_credentials with client_assertion_type urn:ietf:params:oauth:client-assertion-type:jwt-bearer
and a JWT signed with its registered private key (RS384 or ES384): iss = sub = client id, aud = the token
URL, a unique jti, exp at most five minutes ahead.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from billy.phi import decrypt_text, encrypt_text
from integrations.errors import EMRError
from integrations.http import Cache, RetryPolicy, outcome_summary

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# A token is reused until this many seconds before the EMR says it expires.
EXPIRY_MARGIN_S = 60
ASSERTION_LIFETIME_S = 300  # SMART: "no more than five minutes in the future"


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float


class OAuthToken:
    """A client-credentials token from `token_url`, cached per connection. Subclasses say how the client
    authenticates (a secret, a signed assertion)."""

    def __init__(self, *, key: str, token_url: str, client_id: str, scope: str, cache: Cache,
                 policy: RetryPolicy, session: requests.Session | None = None, extra: dict | None = None,
                 clock=time.time):
        if not token_url:
            raise EMRError("The EMR connection has no token URL.", permanent=True, reason="config")
        if not client_id:
            raise EMRError("The EMR connection has no client id.", permanent=True, reason="config")
        self.key, self.token_url, self.client_id, self.scope = key, token_url, client_id, scope
        self.cache, self.policy, self.extra, self.clock = cache, policy, extra or {}, clock
        self.session = session or requests.Session()
        self.fetched = 0  # tokens fetched by this object (tests, the admin's "test connection")

    @property
    def _cache_key(self) -> str:
        return f"emr:token:{self.key}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token().access_token}"}

    def invalidate(self) -> None:
        self.cache.delete(self._cache_key)

    def token(self) -> Token:
        stored = self.cache.get(self._cache_key)
        if stored:
            access, _, expires = decrypt_text(stored).rpartition(" ")
            if access and float(expires) - EXPIRY_MARGIN_S > self.clock():
                return Token(access, float(expires))
        token = self._fetch()
        ttl = token.expires_at - EXPIRY_MARGIN_S - self.clock()
        if ttl > 0:
            self.cache.set(self._cache_key, encrypt_text(f"{token.access_token} {token.expires_at}"), timeout=ttl)
        return token

    def client_auth(self) -> tuple[dict, Any]:
        """(form fields, requests auth) that authenticate the client."""
        raise NotImplementedError

    def _fetch(self) -> Token:
        fields, auth = self.client_auth()
        form = {"grant_type": "client_credentials", **({"scope": self.scope} if self.scope else {}), **self.extra,
                **fields}
        try:
            response = self.session.post(self.token_url, data=form, auth=auth, headers={"Accept": "application/json"},
                                         timeout=(self.policy.connect_timeout_s, self.policy.read_timeout_s),
                                         allow_redirects=False)
        except requests.Timeout:
            raise EMRError("The EMR's token endpoint did not answer in time.", permanent=False,
                           reason="timeout") from None
        except requests.ConnectionError:
            raise EMRError("The EMR's token endpoint could not be reached.", permanent=False,
                           reason="unreachable") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code in (400, 401, 403):
            # RFC 6749 §5.2: {"error": "invalid_client" | "invalid_grant" | "invalid_scope" | ...}
            error = body.get("error") if isinstance(body, dict) else None
            said = f" ({error})" if isinstance(error, str) and len(error) < 40 else ""
            summary = outcome_summary(body)
            raise EMRError(f"The EMR refused IamBilly's client credentials{said}{': ' + summary if summary else ''}"
                           ". Check the client id, the key or secret, and the scopes in the EMR connection.",
                           permanent=True, status=response.status_code, reason="auth")
        if response.status_code >= 500 or response.status_code == 429:
            raise EMRError(f"The EMR's token endpoint had a problem ({response.status_code}); try again shortly.",
                           permanent=False, status=response.status_code, reason="server")
        if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise EMRError(f"The EMR's token endpoint answered {response.status_code} without an access token.",
                           permanent=True, status=response.status_code, reason="malformed")
        try:
            lifetime = float(body.get("expires_in", 300))
        except (TypeError, ValueError):
            lifetime = 300.0
        self.fetched += 1
        return Token(body["access_token"], self.clock() + lifetime)


class ClientSecretToken(OAuthToken):
    """client_secret_basic (RFC 6749 §2.3.1): the client id and secret as HTTP Basic credentials."""

    def __init__(self, *, client_secret: str, **options):
        super().__init__(**options)
        if not client_secret:
            raise EMRError("The EMR connection has no client secret.", permanent=True, reason="config")
        self.client_secret = client_secret

    def client_auth(self) -> tuple[dict, Any]:
        return {}, requests.auth.HTTPBasicAuth(self.client_id, self.client_secret)


class JWTAssertionToken(OAuthToken):
    """SMART Backend Services: a JWT client assertion signed with the client's private key."""

    def __init__(self, *, private_key_pem: str, key_id: str = "", algorithm: str = "RS384", **options):
        super().__init__(**options)
        if not private_key_pem:
            raise EMRError("The EMR connection has no private key for its signed client assertion.",
                           permanent=True, reason="config")
        if algorithm not in ("RS384", "ES384", "RS256"):
            raise EMRError(f"Unsupported client assertion algorithm {algorithm!r}: use RS384 or ES384.",
                           permanent=True, reason="config")
        self.private_key_pem, self.key_id, self.algorithm = private_key_pem, key_id, algorithm

    def assertion(self) -> str:
        now = int(self.clock())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.token_url, "jti": uuid.uuid4().hex,
                  "iat": now, "nbf": now, "exp": now + ASSERTION_LIFETIME_S}
        headers = {"typ": "JWT", **({"kid": self.key_id} if self.key_id else {})}
        try:
            return jwt.encode(claims, self.private_key_pem, algorithm=self.algorithm, headers=headers)
        except (ValueError, TypeError, jwt.exceptions.PyJWTError):
            raise EMRError("The private key of the EMR connection cannot sign (not a PEM private key of the "
                           f"kind {self.algorithm} needs).", permanent=True, reason="config") from None

    def client_auth(self) -> tuple[dict, Any]:
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": self.assertion()}, None
