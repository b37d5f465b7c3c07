"""What the coding engine read in one version of a dictation's transcript: the claim draft the claims workflow
starts from.

One row per recording, text (by SHA-256) and signature state: the same text is never coded twice, a corrected or
amended text gets a row of its own, and so does the moment the text is signed, even unchanged. `signed` says
whether the text coded is the physician's signed text; only that one may become a claim. The claim JSON holds the
patient's details and evidence quoted from the transcript, so it is encrypted; the code summaries name no one and
stay plain for lists and reports.
"""

import re
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from audio.models import Recording, encrypted_storage
from billy.models import Practice
from billy.phi import PhiCharField, PhiDateField, PhiTextField


class CodedTranscript(models.Model):
    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="codings")
    text_sha256 = models.CharField(max_length=64)
    signed = models.BooleanField(default=False)
    claim_json = PhiTextField()  # claims.claim_json.claim_json(...) as JSON
    cpt_summary = models.CharField(max_length=400, blank=True)  # "63030-LT, 69990" : codes only
    icd_summary = models.CharField(max_length=200, blank=True)  # "M51.16, M54.16"
    finding_count = models.PositiveSmallIntegerField(default=0)
    engine_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["recording", "text_sha256", "signed"],
                                               name="one_coding_per_text")]

    def __str__(self) -> str:
        return f"Coding of recording #{self.recording_id}"


class SecondReadStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    READING = "reading", "Reading"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    UNAVAILABLE = "unavailable", "No model"
    SUPERSEDED = "superseded", "Superseded"  # the text changed before the read ran: a newer coding has its own


class SecondRead(models.Model):
    """The LLM second reader's pass over one coded text (claims.second_reading): its state, what it cost, what it
    read, and how far it agrees with the rule-based draft. Its findings live on the claim (origin "llm")."""

    coding = models.OneToOneField(CodedTranscript, on_delete=models.CASCADE, related_name="second_read")
    status = models.CharField(max_length=12, choices=SecondReadStatus.choices, default=SecondReadStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)  # task runs that started; a third is only recorded
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    model_name = models.CharField(max_length=120, blank=True)
    backend = models.CharField(max_length=20, blank=True)
    device = models.CharField(max_length=10, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    chunks = models.PositiveSmallIntegerField(default=0)
    replies = models.PositiveSmallIntegerField(default=0)
    retried = models.PositiveSmallIntegerField(default=0)  # chunks whose first reply was invalid
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)  # vocabulary and counts only, never transcript words
    # The grounded facts and what was dropped, with their quotes: transcript words, so encrypted.
    facts_json = PhiTextField(null=True, blank=True)
    # "procedure:laminotomy" / "diagnosis:M51.16" -> "confirmed" | "disputed" | "unconfirmed" (kinds and codes only)
    confidence = models.JSONField(default=dict, blank=True)
    finding_count = models.PositiveSmallIntegerField(default=0)
    dropped_count = models.PositiveSmallIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"Second read of coding #{self.coding_id} ({self.status})"

    @property
    def pending(self) -> bool:
        return self.status in (SecondReadStatus.QUEUED, SecondReadStatus.READING)

    def confirmed(self) -> list[str]:
        """The draft's procedures and diagnosis codes both readers agree on, in a biller's words."""
        return self._labels("confirmed")

    def unconfirmed(self) -> list[str]:
        """The draft's facts the second reader did not mention (neither agreement nor dispute)."""
        return self._labels("unconfirmed")

    def _labels(self, state: str) -> list[str]:
        # "procedure:posterior_interbody" -> "posterior interbody"; "diagnosis:M51.16" -> "M51.16"
        return sorted(key.partition(":")[2].replace("_", " ") for key, value in self.confidence.items()
                      if value == state)


class ClaimStatus(models.TextChoices):
    PROCESSING = "processing", "Processing"
    NEEDS_REVIEW = "needs_review", "Needs review"
    APPROVED = "approved", "Approved"
    EXPORTED = "exported", "Exported"
    REJECTED = "rejected", "Sent back to the physician"
    VOID = "void", "Void"


class ClaimFrequency(models.TextChoices):
    """CMS-1500 item 22 / 837P CLM05-3."""

    ORIGINAL = "1", "1 Original"
    REPLACEMENT = "7", "7 Replacement of a prior claim"
    VOID = "8", "8 Void / cancel of a prior claim"


class AckOutcome(models.TextChoices):
    NONE = "", "Not acknowledged yet"
    ACCEPTED = "accepted", "Accepted by the payer"
    REJECTED = "rejected", "Rejected by the payer"
    PENDING = "pending", "Pending at the payer"


class Claim(models.Model):
    """A professional claim (CMS-1500 / 837P) for one dictated encounter, in the biller's hands.

    The lines, diagnoses and CMS-1500 items are the biller's working copy; every saved change is a
    ClaimRevision. Status moves only through claims.services with a conditional update on `version`, so two
    billers acting on one claim cannot both win. Plain columns hold no PHI (codes, amounts, dates of service,
    counts for the queue); free text a person writes is encrypted.
    """

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="claims")
    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, null=True, blank=True, related_name="claims")
    coding = models.ForeignKey(CodedTranscript, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                               help_text="The engine's reading the lines came from.")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="claims")
    physician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="claims_dictated")
    status = models.CharField(max_length=20, choices=ClaimStatus.choices, default=ClaimStatus.PROCESSING)
    version = models.PositiveIntegerField(default=1)
    # CMS-1500 items. Parties point at practice data; the export snapshots them into the file it writes.
    date_of_service = models.DateField()
    place_of_service = models.CharField(max_length=2, default="22")
    payer = models.ForeignKey("patients.Payer", on_delete=models.PROTECT, null=True, blank=True, related_name="claims")
    coverage = models.ForeignKey("patients.Coverage", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="claims")
    billing_provider = models.ForeignKey("billy.Provider", on_delete=models.PROTECT, null=True, blank=True,
                                         related_name="claims_billed")
    rendering_provider = models.ForeignKey("billy.Provider", on_delete=models.PROTECT, null=True, blank=True,
                                           related_name="claims_rendered")
    referring_provider = models.ForeignKey("billy.Provider", on_delete=models.PROTECT, null=True, blank=True,
                                           related_name="claims_referred")
    facility = models.ForeignKey("billy.Facility", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="claims")
    frequency_code = models.CharField(max_length=1, choices=ClaimFrequency.choices, default=ClaimFrequency.ORIGINAL)
    original_claim = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="corrections")
    payer_claim_number = models.CharField("payer's claim number", max_length=50, blank=True,
                                          help_text="From the payer's acknowledgement (277CA REF*1K); sent as "
                                                    "REF*F8 on a replacement or void.")
    prior_authorization = models.CharField(max_length=50, blank=True)
    accept_assignment = models.BooleanField(default=True)
    related_to_employment = models.BooleanField(default=False)
    related_to_auto_accident = models.BooleanField(default=False)
    auto_accident_state = models.CharField(max_length=2, blank=True)
    related_to_other_accident = models.BooleanField(default=False)
    onset_date = PhiDateField(null=True, blank=True)
    accident_date = PhiDateField(null=True, blank=True)  # item 10b/10c's date: 837P DTP*439
    amount_paid = models.DecimalField(max_digits=9, decimal_places=2, default=0)
    additional_information = PhiCharField(max_length=80, null=True, blank=True)
    # Figures the queue filters and sorts on, kept with every save (no PHI).
    total_charge = models.DecimalField(max_digits=11, decimal_places=2, default=0)
    line_count = models.PositiveSmallIntegerField(default=0)
    error_count = models.PositiveSmallIntegerField(default=0)
    warning_count = models.PositiveSmallIntegerField(default=0)
    min_confidence = models.FloatField(null=True, blank=True)
    cpt_summary = models.CharField(max_length=400, blank=True)
    # The pipeline: a step that failed says why (never PHI) and a biller can retry it.
    pipeline_error = models.CharField(max_length=300, blank=True)
    # People's words, encrypted.
    rejection_reason = PhiTextField(null=True, blank=True)
    override_reason = PhiTextField(null=True, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    exported_at = models.DateTimeField(null=True, blank=True)
    ack_outcome = models.CharField(max_length=10, choices=AckOutcome.choices, blank=True, default="")
    ack_message = models.CharField(max_length=400, blank=True)  # the payer's codes and their meaning: no PHI
    ack_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date_of_service", "-pk"]
        constraints = [
            # One original claim per dictation: re-running the pipeline finds it instead of making another.
            models.UniqueConstraint(fields=["recording"], condition=Q(frequency_code="1"),
                                    name="one_original_claim_per_recording"),
            models.CheckConstraint(condition=Q(frequency_code="1") | Q(original_claim__isnull=False),
                                   name="correction_names_its_original"),
        ]
        indexes = [
            # The review queue: a practice's claims in one status, newest date of service first (keyset).
            models.Index(fields=["practice", "status", "-date_of_service", "-id"], name="claim_queue_idx"),
            models.Index(fields=["practice", "-date_of_service", "-id"], name="claim_all_idx"),
            models.Index(fields=["practice", "physician", "status"], name="claim_physician_idx"),
        ]

    def __str__(self) -> str:
        return f"Claim {self.number}"

    @property
    def number(self) -> str:
        """The patient control number (CMS-1500 item 26, 837P CLM01): ours, never PHI, unique."""
        return f"IB{self.pk:08d}"

    @staticmethod
    def pk_from_number(number: str) -> int | None:
        """The claim id a patient control number names (a 277CA's TRN02 echoes it), None if it is not ours."""
        match = re.fullmatch(r"IB(\d{8})", number or "")
        return int(match.group(1)) if match else None

    @property
    def is_correction(self) -> bool:
        return self.frequency_code != ClaimFrequency.ORIGINAL


class ClaimDiagnosis(models.Model):
    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="diagnoses")
    position = models.PositiveSmallIntegerField()  # 0 -> pointer A
    code = models.CharField(max_length=8)  # with the dot: M50.122
    description = models.CharField(max_length=300, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    rationale = models.CharField(max_length=400, blank=True)
    evidence_json = PhiTextField(null=True, blank=True)  # [{"start", "end", "text", "audio_start_s"}]: quotes

    class Meta:
        ordering = ["claim", "position"]
        constraints = [models.UniqueConstraint(fields=["claim", "position"], name="one_diagnosis_per_pointer"),
                       models.CheckConstraint(condition=Q(position__lt=12), name="at_most_12_diagnoses")]

    def __str__(self) -> str:
        return f"{self.pointer} {self.code}"

    @property
    def pointer(self) -> str:
        return "ABCDEFGHIJKL"[self.position]


class ClaimLine(models.Model):
    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    cpt = models.CharField("CPT/HCPCS", max_length=5)
    modifiers = models.CharField(max_length=11, blank=True)  # "LT,59": up to 4, comma-separated
    units = models.PositiveSmallIntegerField(default=1)
    charge = models.DecimalField(max_digits=9, decimal_places=2, default=0)  # the line's total (item 24F)
    dx_pointers = models.CharField(max_length=4, blank=True)  # "AB": letters of item 21
    place_of_service = models.CharField(max_length=2, default="22")
    confidence = models.FloatField(null=True, blank=True)
    rationale = models.CharField(max_length=400, blank=True)
    evidence_json = PhiTextField(null=True, blank=True)
    drug_json = models.JSONField(null=True, blank=True)  # {"name", "mg", "ndc"} of a J-code line: no PHI
    levels = models.CharField(max_length=80, blank=True)  # "L4-L5,L5-S1": what the note says it treats (scrubbing)
    added_by_biller = models.BooleanField(default=False)

    class Meta:
        ordering = ["claim", "position"]
        constraints = [models.UniqueConstraint(fields=["claim", "position"], name="one_line_per_position"),
                       models.CheckConstraint(condition=Q(units__gte=1), name="line_units_at_least_one")]

    def __str__(self) -> str:
        return self.label

    @property
    def modifier_list(self) -> list[str]:
        return [m for m in self.modifiers.split(",") if m]

    @property
    def level_list(self) -> list[str]:
        return [level for level in self.levels.split(",") if level]

    @property
    def label(self) -> str:
        label = self.cpt + "".join(f"-{m}" for m in self.modifier_list)
        return f"{label} x{self.units}" if self.units > 1 else label


class FindingOrigin(models.TextChoices):
    CODING = "coding", "Coding engine"
    COMPLETENESS = "completeness", "Claim data"
    SCRUB = "scrub", "Scrubber"
    SECOND_READER = "llm", "Second reader"
    PAYER = "payer", "Payer acknowledgement"


class ClaimFinding(models.Model):
    """One finding on the claim as it stands: replaced whole each time the claim is checked again."""

    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="findings")
    origin = models.CharField(max_length=20, choices=FindingOrigin.choices)
    rule = models.CharField(max_length=40)
    severity = models.CharField(max_length=10)  # error | warning | info
    message = models.CharField(max_length=600)
    lines = models.JSONField(default=list, blank=True)  # 0-based line positions it concerns
    item = models.CharField(max_length=10, blank=True)  # CMS-1500 item, for completeness findings
    source_title = models.CharField(max_length=200, blank=True)
    source_passage = models.TextField(blank=True)  # policy text (public): plain
    source_section = models.CharField(max_length=200, blank=True)
    source_ref = models.CharField(max_length=80, blank=True)  # "policy-chunk:42", "ncci:7": the row it rests on
    fix = models.CharField(max_length=400, blank=True)  # what to do about it, in a biller's words
    evidence_json = PhiTextField(null=True, blank=True)

    class Meta:
        ordering = ["claim", "pk"]
        indexes = [models.Index(fields=["claim", "severity"])]

    def __str__(self) -> str:
        return f"{self.rule} ({self.severity})"

    @property
    def source_url(self) -> str:
        """The policy library page at the cited passage, for a finding that rests on one ("policy:<doc>:<chunk>")."""
        kind, _, rest = self.source_ref.partition(":")
        document, _, chunk = rest.partition(":")
        if kind != "policy" or not document.isdigit():
            return ""
        from django.urls import reverse

        url = reverse("policy_document", args=[int(document)])
        return f"{url}?chunk={chunk}" if chunk.isdigit() else url


class ClaimRevision(models.Model):
    """The claim as one save left it: who, when, why, and a snapshot to diff against the one before."""

    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+")  # None: the pipeline
    created_at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=40)  # created, edited, recoded, approved, rejected, ...
    reason = PhiTextField(null=True, blank=True)
    snapshot_json = PhiTextField()  # claims.revisions.snapshot(claim)
    changed_fields = models.CharField(max_length=400, blank=True)  # names only, for the history list

    class Meta:
        ordering = ["claim", "number"]
        constraints = [models.UniqueConstraint(fields=["claim", "number"], name="one_revision_per_number")]

    def __str__(self) -> str:
        return f"Revision {self.number} of claim #{self.claim_id}"


class ExportKind(models.TextChoices):
    X12_837P = "837p", "X12 837P"
    CMS1500_PDF = "pdf", "CMS-1500 PDF"
    CLAIM_JSON = "json", "Claim JSON"


def export_path(instance: "ClaimExport", filename: str) -> str:
    return f"exports/{instance.practice_id}/{uuid.uuid4().hex}.{instance.kind}"


class ClaimExport(models.Model):
    """A file written for claims: kept (encrypted) so a re-download gives the same bytes."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="claim_exports")
    kind = models.CharField(max_length=5, choices=ExportKind.choices)
    file = models.FileField(upload_to=export_path, storage=encrypted_storage, max_length=200)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField()
    claims = models.ManyToManyField(Claim, related_name="exports")
    claim_count = models.PositiveIntegerField()
    total_charge = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    interchange_control_number = models.PositiveIntegerField(null=True, blank=True)  # 837P ISA13
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["practice", "interchange_control_number"],
                                               condition=Q(interchange_control_number__isnull=False),
                                               name="interchange_number_never_repeats")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def download_name(self) -> str:
        suffix = {"837p": "837", "pdf": "pdf", "json": "jsonl"}[self.kind]
        return f"iambilly-{self.kind}-{self.pk:06d}.{suffix}"


class ControlNumberCounter(models.Model):
    """The last 837P interchange and group control numbers a practice used (ISA13, GS06): incremented under a
    row lock, so two exports at once never share a number."""

    practice = models.OneToOneField(Practice, on_delete=models.CASCADE, related_name="control_numbers")
    last_interchange = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Control numbers of {self.practice}"


def acknowledgement_path(instance: "Acknowledgement", filename: str) -> str:
    return f"acks/{instance.practice_id}/{uuid.uuid4().hex}.x12"


class Acknowledgement(models.Model):
    """A 999 or 277CA file from the clearinghouse, kept encrypted, and what it said."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="acknowledgements")
    kind = models.CharField(max_length=6)  # "999" | "277CA"
    file = models.FileField(upload_to=acknowledgement_path, storage=encrypted_storage, max_length=200)
    sha256 = models.CharField(max_length=64)
    summary = models.CharField(max_length=400)  # counts and codes: no PHI
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-imported_at"]
        constraints = [models.UniqueConstraint(fields=["practice", "sha256"], name="one_import_per_ack_file")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"
