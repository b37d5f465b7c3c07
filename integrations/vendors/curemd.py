"""CureMD FHIR R4 (its ONC-certified API), as a backend client.

CureMD's public pages describe a SMART on FHIR API (patient access through its portal, and backend
services for system access) but do not list the endpoints: the practice receives the FHIR base URL, the
token URL and the client credentials from CureMD when IamBilly is registered. When only the base URL is
known, the token URL is read from the server's SMART configuration (/.well-known/smart-configuration,
which certified servers publish). A private key in the connection selects the signed JWT assertion;
otherwise the client secret is used (client_secret_basic).
"""

from __future__ import annotations

from integrations.auth import ClientSecretToken, JWTAssertionToken
from integrations.errors import EMRError
from integrations.fhir import FhirAdapter

DEFAULT_BASE_URL = ""
DEFAULT_TOKEN_URL = ""
UNCONFIRMED = (
    "CureMD's base and token URLs are not published where the search tool could read them; they come with "
    "the app's registration, or the token URL from the server's SMART configuration.",
    "Whether CureMD expects a tenant or practice header on each call is not documented publicly; none is sent.",
)


class Adapter(FhirAdapter):
    vendor = "curemd"
    label = "CureMD (FHIR R4)"

    def _token_url(self, session, policy) -> str:
        if self.settings.token_url:
            return self.settings.token_url
        url = self.settings.base_url.rstrip("/") + "/.well-known/smart-configuration"
        try:
            answer = session.get(url, headers={"Accept": "application/json"}, allow_redirects=False,
                                 timeout=(policy.connect_timeout_s, policy.read_timeout_s))
            token_url = answer.json().get("token_endpoint") if answer.status_code == 200 else None
        except Exception:  # noqa: BLE001 - any failure here means the same thing to the admin
            token_url = None
        if not isinstance(token_url, str) or not token_url.startswith(("https://", "http://")):
            raise EMRError("The CureMD connection has no token URL and the server's SMART configuration does not "
                           "give one: enter the token URL CureMD sent with the registration.", permanent=True,
                           reason="config")
        return token_url

    def token_source(self, *, cache, policy, session):
        settings = self.settings
        options = dict(key=settings.key, token_url=self._token_url(session, policy), client_id=settings.client_id,
                       scope=settings.scope, cache=cache, policy=policy, session=session)
        if settings.private_key_pem:
            return JWTAssertionToken(private_key_pem=settings.private_key_pem, key_id=settings.key_id,
                                     algorithm="RS384", **options)
        return ClientSecretToken(client_secret=settings.client_secret, **options)
