"""The practice's fee schedule. Reference data (CPT catalogue, ICD-10-CM, payer edits) lives in files, not here."""

from __future__ import annotations

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateRangeField, RangeBoundary, RangeOperators
from django.db import models
from django.db.models import F, Func, Q

from billing import cpt
from billy.models import Practice


class DateRange(Func):
    """PostgreSQL daterange(from, to, '[]'): both ends are dates of service the charge applies to; NULL `to` is open."""

    function = "DATERANGE"
    output_field = DateRangeField()


class FeeScheduleEntry(models.Model):
    """What the practice charges for one code (and modifier) on dates of service from `effective_from` to
    `effective_to`, both included; an empty `effective_to` runs until a later entry takes over.

    A blank modifier is the charge whatever the line's modifiers; an entry with a modifier (26, TC, 50) is the
    charge for lines carrying it and wins over the blank one.
    """

    # No index of its own: fee_lookup_idx starts with the practice and serves the foreign key too.
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="fee_schedule", db_index=False)
    code = models.CharField("CPT/HCPCS", max_length=5)
    modifier = models.CharField(max_length=2, blank=True, default="",
                                help_text="Empty: any modifier. A row with a modifier wins over the empty one.")
    charge = models.DecimalField(max_digits=9, decimal_places=2, help_text="US dollars, per unit.")
    effective_from = models.DateField(help_text="First date of service it applies to.")
    effective_to = models.DateField(null=True, blank=True,
                                    help_text="Last date of service it applies to; empty: open-ended.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "fee schedule entry"
        verbose_name_plural = "fee schedule entries"
        ordering = ["code", "modifier", "-effective_from"]
        indexes = [
            # The claim-line lookup: one practice, one code, the rows around one date of service.
            models.Index(fields=["practice", "code", "modifier", "effective_from"], name="fee_lookup_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(charge__gte=0), name="fee_charge_not_negative"),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=F("effective_from")),
                name="fee_dates_in_order",
            ),
            # One charge per practice, code and modifier on any date of service (needs btree_gist for the
            # equality parts of a GiST index; migration 0001 installs it).
            ExclusionConstraint(
                name="fee_no_overlapping_dates",
                expressions=[
                    ("practice", RangeOperators.EQUAL),
                    ("code", RangeOperators.EQUAL),
                    ("modifier", RangeOperators.EQUAL),
                    (DateRange("effective_from", "effective_to", RangeBoundary(inclusive_lower=True,
                                                                             inclusive_upper=True)),
                     RangeOperators.OVERLAPS),
                ],
                violation_error_message="This practice already has a charge for this code and modifier on some "
                                        "of these dates: end that one first, or change the dates.",
            ),
        ]

    def __str__(self) -> str:
        modifier = f"-{self.modifier}" if self.modifier else ""
        return f"{self.code}{modifier} {self.charge} from {self.effective_from:%Y-%m-%d}"

    @property
    def charge_display(self) -> str:
        return f"{self.charge:,.2f}"

    @property
    def descriptor(self) -> str:
        entry = cpt.get(self.code)
        return entry.descriptor if entry else ""


class CodeSystem(models.TextChoices):
    ICD10CM = "icd", "ICD-10-CM"
    CPT = "cpt", "CPT/HCPCS"


class ReferenceCode(models.Model):
    """A searchable copy of the billable ICD-10-CM codes and our CPT catalogue, for search-as-you-type (pg_trgm).

    The files stay the source of truth (billing.icd, billing.cpt); this table is filled from them by migration
    0002 and `manage.py load_code_search`. It is unmanaged on purpose: Django's flush (between transactional
    tests) skips unmanaged tables, so live servers and workers in tests keep a full code search, like the
    in-memory reference data.
    """

    system = models.CharField(max_length=3, choices=CodeSystem.choices)
    code = models.CharField(max_length=8, primary_key=True)  # unique across both systems (shapes differ)
    description = models.TextField()
    add_on = models.BooleanField(default=False)

    class Meta:
        managed = False
        db_table = "billing_reference_code"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.description}"
