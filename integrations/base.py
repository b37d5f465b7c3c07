"""The adapter contract: what IamBilly asks of any EMR, in plain records (integrations.records).

Every method raises integrations.errors.EMRError and nothing else. An adapter is built per use from a
`ConnectionSettings` (integrations.models.EMRConnection.settings()), so it can be tested without a database.
"""

from __future__ import annotations

import abc
import datetime as dt
from dataclasses import dataclass

from integrations.records import (
    CoverageRecord,
    DocumentRecord,
    EncounterRecord,
    PatientRecord,
    PractitionerRecord,
)


@dataclass(frozen=True)
class ConnectionSettings:
    key: str  # names the connection in cache keys ("conn-7"): never a URL or a secret
    vendor: str
    base_url: str
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    private_key_pem: str = ""
    key_id: str = ""
    scope: str = ""
    tenant: str = ""  # athenahealth's practice id, CureMD's tenant: what the vendor needs on every call
    mrn_system: str = ""  # the identifier system the practice's MRNs carry; blank: the identifier typed MR
    payer_id_system: str = ""  # the Organization identifier system that holds a payer's EDI id

    def __repr__(self) -> str:  # secrets never in a traceback
        return f"ConnectionSettings(key={self.key!r}, vendor={self.vendor!r})"


class EMRAdapter(abc.ABC):
    vendor: str = ""
    label: str = ""
    can_write_documents: bool = True

    @abc.abstractmethod
    def check(self) -> str:
        """Authenticate and read the server's capabilities; a one-line summary for the admin."""

    @abc.abstractmethod
    def search_patients(self, *, family_name: str = "", given_name: str = "", birth_date: dt.date | None = None,
                        mrn: str = "", limit: int = 20) -> list[PatientRecord]:
        """Patients matching every given criterion (at least one), at most `limit`."""

    @abc.abstractmethod
    def read_patient(self, emr_id: str) -> PatientRecord:
        """One patient; a merged record is followed to the one that replaced it."""

    @abc.abstractmethod
    def coverages(self, patient_emr_id: str) -> list[CoverageRecord]:
        """The patient's coverages, primary first."""

    @abc.abstractmethod
    def encounters(self, patient_emr_id: str, *, on: dt.date) -> list[EncounterRecord]:
        """The patient's encounters on a date."""

    @abc.abstractmethod
    def read_practitioner(self, emr_id: str) -> PractitionerRecord:
        """One practitioner, with the NPI when the EMR gives it."""

    @abc.abstractmethod
    def write_document(self, patient_emr_id: str, document: DocumentRecord) -> str:
        """Files a document in the patient's chart; returns the EMR's id of it."""
