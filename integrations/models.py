"""A practice's connections to its EMR: vendor, endpoints, credentials (encrypted), and the last check."""

from __future__ import annotations

from django.db import models

from billy.models import Practice
from billy.phi import PhiTextField
from integrations.base import ConnectionSettings


class Vendor(models.TextChoices):
    FHIR = "fhir", "FHIR R4 server (no vendor profile)"
    EPIC = "epic", "Epic"
    ATHENAHEALTH = "athenahealth", "athenahealth"
    CUREMD = "curemd", "CureMD"


class EMRConnection(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="emr_connections")
    name = models.CharField(max_length=100, help_text="How people see it: “Epic (production)”.")
    vendor = models.CharField(max_length=20, choices=Vendor.choices)
    base_url = models.URLField("FHIR base URL", max_length=300,
                               help_text="The FHIR R4 endpoint, e.g. https://fhir.example.org/api/FHIR/R4/")
    token_url = models.URLField("token URL", max_length=300, blank=True,
                                help_text="Blank: the vendor's default (CureMD: read from the server's SMART "
                                          "configuration).")
    client_id = models.CharField("client id", max_length=200, blank=True)
    # Credentials are encrypted like PHI (billy.phi): a client secret or private key opens every chart.
    client_secret = PhiTextField("client secret", null=True, blank=True,
                                 help_text="athenahealth, CureMD: the client secret. FHIR server: a fixed bearer "
                                           "token, if it needs one.")
    private_key = PhiTextField("private key (PEM)", null=True, blank=True,
                               help_text="Epic, and CureMD backend services: the RS384 private key whose public "
                                         "key is registered with the EMR.")
    key_id = models.CharField("key id (kid)", max_length=100, blank=True)
    scope = models.CharField(max_length=500, blank=True,
                             help_text="Space-separated, e.g. system/Patient.read system/Coverage.read")
    tenant = models.CharField(max_length=100, blank=True,
                              help_text="athenahealth: the practice id (digits).")
    mrn_system = models.CharField("MRN identifier system", max_length=200, blank=True,
                                  help_text="Blank: the identifier typed MR.")
    payer_id_system = models.CharField("payer id identifier system", max_length=200, blank=True,
                                       help_text="The Organization identifier system holding a payer's EDI id; "
                                                 "blank: the identifier typed NIIP.")
    is_enabled = models.BooleanField("enabled", default=False,
                                     help_text="Only enabled connections are searched and synced.")
    files_transcripts = models.BooleanField(
        "file signed transcripts in the EMR", default=False,
        help_text="Each signed transcript (and addendum) of a patient imported from this EMR is written back to the "
                  "patient's chart as a DocumentReference, labelled as IamBilly's.")
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_message = models.CharField(max_length=500, blank=True)  # an EMRError message: never PHI
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "EMR connection"
        constraints = [models.UniqueConstraint(fields=["practice", "name"], name="emr_connection_name_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_vendor_display()})"

    def settings(self) -> ConnectionSettings:
        return ConnectionSettings(
            key=f"conn-{self.pk}", vendor=str(self.vendor), base_url=self.base_url, token_url=self.token_url,
            client_id=self.client_id, client_secret=self.client_secret or "", private_key_pem=self.private_key or "",
            key_id=self.key_id, scope=self.scope, tenant=self.tenant, mrn_system=self.mrn_system,
            payer_id_system=self.payer_id_system)


class FilingStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    FILING = "filing", "Filing"
    FILED = "filed", "Filed"
    FAILED = "failed", "Failed"


class EMRDocument(models.Model):
    """One signed transcript (or addendum) written back to a patient's chart in the EMR: queued once per signature
    and connection, filed by a task, retried after a temporary fault, failed with the reason after a permanent
    one (an admin can file it again)."""

    connection = models.ForeignKey(EMRConnection, on_delete=models.PROTECT, related_name="documents")
    signature = models.ForeignKey("audio.TranscriptSignature", on_delete=models.PROTECT, related_name="emr_documents")
    status = models.CharField(max_length=10, choices=FilingStatus.choices, default=FilingStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    emr_document_id = models.CharField("EMR document id", max_length=200, blank=True)
    last_error = models.CharField(max_length=500, blank=True)  # an EMRError message: never PHI
    queued_at = models.DateTimeField(auto_now_add=True)
    filed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "document filed in the EMR"
        constraints = [models.UniqueConstraint(fields=["connection", "signature"], name="emr_document_once")]

    def __str__(self) -> str:
        return f"EMR document #{self.pk} ({self.get_status_display()})"
