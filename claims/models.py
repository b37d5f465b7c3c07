"""What the coding engine read in one version of a dictation's transcript: the claim draft the claims workflow
starts from.

One row per recording, text (by SHA-256) and signature state: the same text is never coded twice, a corrected or
amended text gets a row of its own, and so does the moment the text is signed, even unchanged. `signed` says
whether the text coded is the physician's signed text; only that one may become a claim. The claim JSON holds the
patient's details and evidence quoted from the transcript, so it is encrypted; the code summaries name no one and
stay plain for lists and reports.
"""

from django.db import models

from audio.models import Recording
from billy.phi import PhiTextField


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
