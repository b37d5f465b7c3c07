"""Epic on FHIR, R4, as a backend system: SMART Backend Services.

The practice registers IamBilly as a backend app in Epic's developer portal (or its organisation's Epic
community member setup), uploads IamBilly's public key, and enters here the client id, the private key
(PEM) and the organisation's FHIR base URL and token URL. Each token request carries a JWT client assertion
signed RS384 (iss = sub = client id, aud = the token URL, jti, exp within 5 minutes); Epic answers an access
token valid for about an hour, which integrations.auth caches encrypted in Redis.
"""

from __future__ import annotations

from integrations.auth import JWTAssertionToken
from integrations.fhir import FhirAdapter

# The open sandbox; a production organisation's endpoints are listed in Epic's open.epic endpoint directory.
DEFAULT_BASE_URL = "https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4/"
DEFAULT_TOKEN_URL = "https://fhir.epic.com/interconnect-fhir-oauth/oauth2/token"  # noqa: S105 - a URL, not a secret
UNCONFIRMED = (
    "Whether DocumentReference create (clinical notes) is enabled for a backend app depends on the "
    "organisation's Epic build; a refusal is reported as 403 and the write-back is skipped.",
    "The MRN identifier system differs per organisation (an OID); set it in the connection, else the "
    "identifier typed MR is used.",
)


class Adapter(FhirAdapter):
    vendor = "epic"
    label = "Epic (FHIR R4, SMART Backend Services)"

    def token_source(self, *, cache, policy, session):
        settings = self.settings
        return JWTAssertionToken(key=settings.key, token_url=settings.token_url or DEFAULT_TOKEN_URL,
                                 client_id=settings.client_id, scope=settings.scope, cache=cache, policy=policy,
                                 session=session, private_key_pem=settings.private_key_pem, key_id=settings.key_id,
                                 algorithm="RS384")
