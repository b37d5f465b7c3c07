"""Patients. Every identifying field is encrypted at rest; lookups go through keyed blind indexes."""

from django.db import models

from billy.models import Practice
from billy.phi import BlindIndexField, PhiCharField, PhiDateField


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    UNKNOWN = "U", "Unknown"


class Patient(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="patients")
    family_name = PhiCharField(max_length=100, null=True, blank=True)
    given_name = PhiCharField(max_length=100, null=True, blank=True)
    birth_date = PhiDateField(null=True, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    mrn = PhiCharField("MRN", max_length=64, null=True, blank=True)
    # HMAC(surname + first initial + birth date) and HMAC(MRN), scoped to the practice: see billy.phi.
    name_dob_index = BlindIndexField()
    mrn_index = BlindIndexField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["practice", "name_dob_index"]), models.Index(fields=["practice", "mrn_index"])]

    def __str__(self) -> str:
        # Admin lists and logs name a patient by id; the name shows only on pages that audit the read.
        return f"Patient #{self.pk}"

    @property
    def display_name(self) -> str:
        return f"{self.family_name or ''}, {self.given_name or ''}".strip(", ")
