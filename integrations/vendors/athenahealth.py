"""athenahealth (athenaOne) FHIR R4, as a 2-legged OAuth2 client (client credentials with a secret).

athenaOne is multi-tenant: one FHIR base serves every practice, and a search names the practice it is about
with the `ah-practice` parameter ("Organization/a-1.Practice-<practice id>"). The connection's `tenant` is that
practice id. Resource ids carry it too ("a-<practice id>.E-<patient id>"), so a read needs nothing more.
"""

from __future__ import annotations

from integrations.auth import ClientSecretToken
from integrations.errors import EMRError
from integrations.fhir import FhirAdapter

DEFAULT_BASE_URL = "https://api.platform.athenahealth.com/fhir/r4/"
DEFAULT_TOKEN_URL = "https://api.platform.athenahealth.com/oauth2/v1/token"  # noqa: S105 - a URL, not a secret
UNCONFIRMED = (
    "The endpoints and the ah-practice parameter are from athenahealth's developer portal as remembered; "
    "the search tool held no page of it to confirm them. The preview environment is "
    "api.preview.platform.athenahealth.com.",
    "Which system scopes a 2-legged app is granted (system/Patient.read, system/Coverage.read, "
    "system/DocumentReference.write) is set per app by athenahealth; the connection's scope field sends them.",
)


class Adapter(FhirAdapter):
    vendor = "athenahealth"
    label = "athenahealth (FHIR R4)"

    def token_source(self, *, cache, policy, session):
        settings = self.settings
        return ClientSecretToken(key=settings.key, token_url=settings.token_url or DEFAULT_TOKEN_URL,
                                 client_id=settings.client_id, client_secret=settings.client_secret,
                                 scope=settings.scope, cache=cache, policy=policy, session=session)

    def search_params(self, resource_type: str, params: dict) -> dict:
        practice = self.settings.tenant.strip()
        if not practice.isdigit():
            raise EMRError("The athenahealth connection needs the practice id (digits) in its tenant field.",
                           permanent=True, reason="config")
        return {**params, "ah-practice": f"Organization/a-1.Practice-{practice}"}
