"""A plain FHIR R4 server with no authentication, or a fixed bearer token in the client secret: a practice's
own FHIR facade, a HAPI or Medplum server inside the network, and the local server IamBilly's tests and demo
start (integrations.fhir_testing)."""

from __future__ import annotations

from integrations.fhir import FhirAdapter
from integrations.http import NoAuth

DEFAULT_BASE_URL = ""
DEFAULT_TOKEN_URL = ""
UNCONFIRMED: tuple[str, ...] = ()


class StaticBearer:
    def __init__(self, token: str):
        self._headers = {"Authorization": f"Bearer {token}"}

    def headers(self) -> dict[str, str]:
        return self._headers

    def invalidate(self) -> None:
        pass  # nothing to refresh: a 401 is then permanent


class Adapter(FhirAdapter):
    vendor = "fhir"
    label = "FHIR R4 server"

    def token_source(self, *, cache, policy, session):
        if self.settings.client_secret:
            return StaticBearer(self.settings.client_secret)
        return NoAuth()
