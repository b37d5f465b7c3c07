import pytest

from integrations.fhir_testing import fhir_server


@pytest.fixture(scope="session")
def fhir_base_url():
    """One local FHIR R4 server for the whole run (in memory): tests use names and identifiers of their own."""
    with fhir_server() as base_url:
        yield base_url
