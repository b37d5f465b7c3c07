"""Dictations (the encrypted audio a physician uploads or records) and their transcripts.

The audio is stored only encrypted (billy.storage: AES-256-GCM in segments, so playback can seek); the
transcript text, its timed words and the file's original name are PHI fields. The date of service is kept
plain so queues can filter and sort by it: on its own it names no one (the patient row is encrypted).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from billy.models import Practice
from billy.phi import PhiCharField, PhiTextField
from billy.storage import EncryptedFileSystemStorage
from patients.models import Patient

encrypted_storage = EncryptedFileSystemStorage()


def recording_path(instance: "Recording", filename: str) -> str:
    # A random name: the original file name can hold a patient's name, and it is kept encrypted instead.
    return f"recordings/{instance.practice_id}/{instance.uuid.hex}.audio"


class RecordingStatus(models.TextChoices):
    UPLOADED = "uploaded", "Waiting for transcription"
    TRANSCRIBING = "transcribing", "Transcribing"
    TRANSCRIBED = "transcribed", "Transcribed"
    FAILED = "failed", "Transcription failed"


class RecordingSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded file"
    BROWSER = "browser", "Recorded in the browser"


class Recording(models.Model):
    uuid = models.UUIDField(unique=True, editable=False)
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="recordings")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="recordings")
    physician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="recordings")
    date_of_service = models.DateField()
    source = models.CharField(max_length=10, choices=RecordingSource.choices, default=RecordingSource.UPLOAD)
    audio = models.FileField(upload_to=recording_path, storage=encrypted_storage, max_length=200)
    original_name = PhiCharField(max_length=255, null=True, blank=True)
    # SHA-256 of the plaintext audio: the same file for the same encounter is recognised, never a second claim.
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    format_label = models.CharField(max_length=20)
    codec = models.CharField(max_length=40)
    duration_s = models.FloatField()
    status = models.CharField(max_length=20, choices=RecordingStatus.choices, default=RecordingStatus.UPLOADED)
    status_message = models.CharField(max_length=300, blank=True)  # for people; never PHI
    progress_s = models.FloatField(default=0.0)  # seconds of audio transcribed so far
    attempts = models.PositiveSmallIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "date_of_service", "sha256"], name="one_recording_per_file"),
            models.CheckConstraint(condition=Q(duration_s__gt=0) & Q(size_bytes__gt=0), name="recording_has_sound"),
        ]
        indexes = [models.Index(fields=["practice", "physician", "-created_at"]),
                   models.Index(fields=["practice", "status"])]

    def __str__(self) -> str:
        return f"Recording #{self.pk}"

    @property
    def progress_percent(self) -> int:
        if self.status == RecordingStatus.TRANSCRIBED:
            return 100
        return int(min(99, 100 * self.progress_s / self.duration_s)) if self.duration_s else 0


class Transcript(models.Model):
    recording = models.OneToOneField(Recording, on_delete=models.CASCADE, related_name="transcript")
    text = PhiTextField()
    # JSON: [{"start", "end", "text", "words": [{"start", "end", "word", "probability"}]}]
    segments_json = PhiTextField()
    # JSON: the normaliser's changes, [{"start", "end", "original", "replacement", "reason"}]
    changes_json = PhiTextField(null=True, blank=True)
    model_name = models.CharField(max_length=60)
    device = models.CharField(max_length=20)
    real_time_factor = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The text as the model (and the normaliser) wrote it; `text` is what the physician corrected and signs.
    machine_text = PhiTextField(null=True, blank=True)
    edited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")
    edited_at = models.DateTimeField(null=True, blank=True)
    # Optimistic locking: each correction or addendum moves it on; an edit made from an older page is refused.
    version = models.PositiveIntegerField(default=1)
    # A biller who finds the signed text wrong or short asks the physician for an addendum.
    addendum_requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                              blank=True, related_name="+")
    addendum_requested_at = models.DateTimeField(null=True, blank=True)
    addendum_request_reason = PhiTextField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Transcript of recording #{self.recording_id}"


class SignatureKind(models.TextChoices):
    SIGNATURE = "signature", "Signature"
    ADDENDUM = "addendum", "Signed addendum"


class TranscriptSignature(models.Model):
    """A physician's attestation of the exact text of a transcript. Rows are never changed or deleted (the
    database refuses it); a later change of the text is an addendum, a new row signed in the same way."""

    transcript = models.ForeignKey(Transcript, on_delete=models.PROTECT, related_name="signatures")
    sequence = models.PositiveSmallIntegerField()  # 1 for the signature, 2.. for addenda
    kind = models.CharField(max_length=10, choices=SignatureKind.choices)
    text = PhiTextField()  # the whole text as signed
    text_sha256 = models.CharField(max_length=64)  # of that text (UTF-8): what was signed can be checked
    reason = PhiTextField(null=True, blank=True)  # an addendum's reason, in the physician's words
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(max_length=200)  # the name as printed under the signature
    attestation = models.CharField(max_length=400)
    signed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["transcript", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["transcript", "sequence"], name="one_signature_per_sequence"),
            models.CheckConstraint(condition=Q(sequence=1, kind="signature") | Q(sequence__gt=1, kind="addendum"),
                                   name="signature_first_then_addenda"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.sequence} of transcript #{self.transcript_id}"


class PracticeSpeechSettings(models.Model):
    """A practice's own words for the speech model: surgeons' names, implant brands, local terms."""

    practice = models.OneToOneField(Practice, on_delete=models.CASCADE, related_name="speech_settings")
    hotwords = models.TextField(
        blank=True, max_length=600,
        help_text="Comma-separated words and phrases the transcription should expect (e.g. implant brands, "
                  "surgeons' names). Keep it short: a long list makes the model repeat it. Blank: IamBilly's "
                  "spine vocabulary.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "speech settings"

    def __str__(self) -> str:
        return f"Speech settings of {self.practice}"
