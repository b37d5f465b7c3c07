"""Patients, payers and coverage: who the patient is and who pays.

Every identifying field is encrypted at rest (billy.phi); lookups go through keyed blind indexes, each with
its leakage written beside it. Payers are per practice, because a practice's preferences for a payer (59 or
X{EPSU}, how it wants bilateral procedures) and its list of payers are its own.
"""

import re

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateRangeField, RangeBoundary, RangeOperators
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Func, Q

from billy.identifiers import validate_postal_code, validate_state
from billy.models import PayerType, Practice  # PayerType: defined with the other shared vocabularies
from billy.phi import BlindIndexField, PhiCharField, PhiDateField


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    UNKNOWN = "U", "Unknown"


class Patient(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="patients")
    family_name = PhiCharField(max_length=100, null=True, blank=True)
    given_name = PhiCharField(max_length=100, null=True, blank=True)
    middle_name = PhiCharField(max_length=100, null=True, blank=True)
    birth_date = PhiDateField(null=True, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    mrn = PhiCharField("MRN", max_length=64, null=True, blank=True)
    address_line1 = PhiCharField("address", max_length=200, null=True, blank=True)
    address_line2 = PhiCharField("address (line 2)", max_length=200, null=True, blank=True)
    city = PhiCharField(max_length=100, null=True, blank=True)
    state = PhiCharField(max_length=2, null=True, blank=True)
    postal_code = PhiCharField("ZIP code", max_length=10, null=True, blank=True)
    phone = PhiCharField(max_length=20, null=True, blank=True)
    # Blind indexes (billy.phi.blind_index: HMAC under BILLY_BLIND_INDEX_KEY, scoped to the practice).
    # name_dob_index = HMAC(normalised surname | first initial | birth date). Leaks equality only: two
    #   patients of one practice with the same surname, initial and birth date share it (that is how
    #   duplicates are caught); nothing across practices; without the key, no guessing from the value.
    # mrn_index = HMAC(normalised MRN). Leaks equality of MRNs within the practice (they are unique anyway).
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
        given = " ".join(part for part in (self.given_name, self.middle_name) if part)
        return f"{self.family_name or ''}, {given}".strip(", ")


class ClaimFilingIndicator(models.TextChoices):
    """837P SBR09 (claim filing indicator code, element 1032), the codes a professional claim uses."""

    SELF_PAY = "09", "09 Self-pay"
    OTHER_NON_FEDERAL = "11", "11 Other non-federal programs"
    PPO = "12", "12 Preferred provider organisation (PPO)"
    POS = "13", "13 Point of service (POS)"
    EPO = "14", "14 Exclusive provider organisation (EPO)"
    INDEMNITY = "15", "15 Indemnity insurance"
    HMO_MEDICARE_RISK = "16", "16 HMO Medicare risk (Medicare Advantage)"
    AUTO = "AM", "AM Automobile medical"
    BLUE_CROSS = "BL", "BL Blue Cross / Blue Shield"
    CHAMPUS = "CH", "CH CHAMPUS (TRICARE)"
    COMMERCIAL = "CI", "CI Commercial insurance company"
    DISABILITY = "DS", "DS Disability"
    FEDERAL_EMPLOYEES = "FI", "FI Federal Employees Program"
    HMO = "HM", "HM Health maintenance organisation"
    LIABILITY = "LM", "LM Liability medical"
    MEDICARE_B = "MB", "MB Medicare Part B"
    MEDICAID = "MC", "MC Medicaid"
    OTHER_FEDERAL = "OF", "OF Other federal program"
    VETERANS = "VA", "VA Veterans Affairs plan"
    WORKERS_COMP = "WC", "WC Workers' compensation health claim"
    MUTUALLY_DEFINED = "ZZ", "ZZ Mutually defined"


# The filing indicator a payer type implies when the admin does not choose another (a Blue plan is BL,
# a Medicare Advantage plan 16: those are chosen on the payer).
FILING_INDICATOR_FOR_TYPE = {
    PayerType.MEDICARE: ClaimFilingIndicator.MEDICARE_B,
    PayerType.MEDICAID: ClaimFilingIndicator.MEDICAID,
    PayerType.COMMERCIAL: ClaimFilingIndicator.COMMERCIAL,
    PayerType.WORKERS_COMP: ClaimFilingIndicator.WORKERS_COMP,
    PayerType.AUTO: ClaimFilingIndicator.AUTO,
    PayerType.SELF_PAY: ClaimFilingIndicator.SELF_PAY,
}


class DistinctModifier(models.TextChoices):
    """How the payer wants a distinct procedural service marked (NCCI): 59, or the more specific X{EPSU}."""

    MODIFIER_59 = "59", "59 (distinct procedural service)"
    X_EPSU = "X", "XE / XS / XP / XU (CMS subsets of 59)"


class BilateralConvention(models.TextChoices):
    """How the payer wants a bilateral procedure on the claim."""

    MODIFIER_50_ONE_UNIT = "50", "One line, modifier 50, 1 unit (Medicare)"
    MODIFIER_50_TWO_UNITS = "50x2", "One line, modifier 50, 2 units"
    RT_LT_LINES = "RTLT", "Two lines, RT and LT"


class Payer(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="payers")
    name = models.CharField(max_length=100)
    payer_id = models.CharField("EDI payer id", max_length=80, blank=True,
                                help_text="The id the clearinghouse routes by (837P 2010BB NM109). Blank only for "
                                          "self-pay.")
    payer_type = models.CharField(max_length=20, choices=PayerType.choices)
    claim_filing_indicator = models.CharField(
        "claim filing indicator (SBR09)", max_length=2, choices=ClaimFilingIndicator.choices, blank=True,
        help_text="Leave blank to use the one the payer type implies (Medicare MB, Medicaid MC, commercial CI, "
                  "workers' comp WC, auto AM, self-pay 09).")
    address_line1 = models.CharField("claims address", max_length=200, blank=True)
    address_line2 = models.CharField("claims address (line 2)", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=2, blank=True, validators=[validate_state])
    postal_code = models.CharField("ZIP code", max_length=10, blank=True, validators=[validate_postal_code])
    phone = models.CharField(max_length=20, blank=True)
    member_id_pattern = models.CharField(
        "member id pattern", max_length=200, blank=True,
        help_text="A regular expression every member id of this payer must match, e.g. [0-9][A-Z][A-Z0-9][0-9]"
                  "[A-Z][A-Z0-9][0-9][A-Z]{2}[0-9]{2} for a Medicare MBI. Blank: any.")
    member_id_example = models.CharField(max_length=40, blank=True,
                                         help_text="Shown to billers when a member id does not match the pattern.")
    # Blank: as IamBilly's modifier map says for the payer (billing.ModifierMap, by payer type or payer id; the
    # scrubber reads it). Set only where this practice knows better for this payer.
    distinct_modifier = models.CharField("distinct-service modifier", max_length=2, blank=True, default="",
                                         choices=DistinctModifier.choices,
                                         help_text="Blank: as the modifier map (admin) says for this payer.")
    bilateral_convention = models.CharField(max_length=4, choices=BilateralConvention.choices, blank=True,
                                            default="", help_text="Blank: as the modifier map says for this payer.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "payer_id"], condition=~Q(payer_id=""),
                                    name="payer_id_unique_per_practice"),
            models.CheckConstraint(condition=~Q(payer_id="") | Q(payer_type="self_pay"),
                                   name="payer_id_required_unless_self_pay"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.payer_id})" if self.payer_id else self.name

    def clean(self) -> None:
        if self.member_id_pattern:
            try:
                re.compile(self.member_id_pattern)
            except re.error as exc:
                raise ValidationError({"member_id_pattern": f"This is not a valid regular expression: {exc}."}) from exc
        if not self.payer_id and self.payer_type != PayerType.SELF_PAY:
            raise ValidationError({"payer_id": "Claims are routed by the EDI payer id: it is required unless the "
                                               "payer is self-pay."})

    @property
    def filing_indicator(self) -> str:
        return self.claim_filing_indicator or FILING_INDICATOR_FOR_TYPE[PayerType(self.payer_type)]


class CoverageOrder(models.IntegerChoices):
    """837P SBR01: P, S, T."""

    PRIMARY = 1, "Primary"
    SECONDARY = 2, "Secondary"
    TERTIARY = 3, "Tertiary"


class Relationship(models.TextChoices):
    """The patient's relationship to the subscriber (837P SBR02 = 18 for self; PAT01 otherwise)."""

    SELF = "18", "Self"
    SPOUSE = "01", "Spouse"
    CHILD = "19", "Child"
    EMPLOYEE = "20", "Employee"
    LIFE_PARTNER = "53", "Life partner"
    OTHER = "G8", "Other relationship"
    UNKNOWN = "21", "Unknown"


class DateRange(Func):
    """PostgreSQL daterange(start, end, '[]'): a NULL end is open-ended."""

    function = "daterange"
    output_field = DateRangeField()


class Coverage(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="coverages")
    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="coverages")
    order = models.PositiveSmallIntegerField(choices=CoverageOrder.choices, default=CoverageOrder.PRIMARY)
    member_id = PhiCharField("member id", max_length=80, null=True, blank=True)
    # member_id_index = HMAC(normalised member id), scoped to the practice. Leaks equality: the coverages of a
    # family under one subscriber's member id share it. Lets a biller find a patient from an insurance card.
    member_id_index = BlindIndexField()
    group_number = PhiCharField(max_length=50, null=True, blank=True)
    plan_name = models.CharField(max_length=100, blank=True)
    relationship = models.CharField("patient's relationship to the subscriber", max_length=2,
                                    choices=Relationship.choices, default=Relationship.SELF)
    # The subscriber, when the patient is not the subscriber (837P loop 2010BA); all PHI.
    subscriber_family_name = PhiCharField(max_length=100, null=True, blank=True)
    subscriber_given_name = PhiCharField(max_length=100, null=True, blank=True)
    subscriber_birth_date = PhiDateField(null=True, blank=True)
    subscriber_sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    subscriber_address_line1 = PhiCharField(max_length=200, null=True, blank=True)
    subscriber_city = PhiCharField(max_length=100, null=True, blank=True)
    subscriber_state = PhiCharField(max_length=2, null=True, blank=True)
    subscriber_postal_code = PhiCharField(max_length=10, null=True, blank=True)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text="Blank: in force until further notice.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "-effective_from"]
        constraints = [
            models.CheckConstraint(condition=Q(effective_to__isnull=True) | Q(effective_to__gte=F("effective_from")),
                                   name="coverage_ends_after_it_starts"),
            # One primary (one secondary, ...) at a time: the database refuses an overlap even if two
            # billers save at once. Needs btree_gist for the equality on patient and order.
            ExclusionConstraint(
                name="coverage_one_per_order_at_a_time",
                expressions=[
                    ("patient", RangeOperators.EQUAL),
                    ("order", RangeOperators.EQUAL),
                    (DateRange("effective_from", "effective_to", RangeBoundary(inclusive_lower=True,
                                                                               inclusive_upper=True)),
                     RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"Coverage #{self.pk} ({self.get_order_display()})"

    def in_force_on(self, day) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


class PatientEMRMap(models.Model):
    """Which record of which EMR connection a patient is: how an import finds the patient it made before (never a
    second copy), and how a write-back knows where to file. The EMR's id is encrypted (it identifies a person in
    that EMR) and found by its blind index; a merged EMR record keeps its old id mapped to the same patient."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="emr_maps")
    connection = models.ForeignKey("integrations.EMRConnection", on_delete=models.PROTECT, related_name="patient_maps")
    emr_id = PhiCharField("EMR patient id", max_length=200, null=True)
    # HMAC(connection id | EMR id) under the blind-index key: equality within one connection only.
    emr_id_index = BlindIndexField()
    is_current = models.BooleanField(default=True, help_text="False: an id the EMR merged into another record.")
    synced_at = models.DateTimeField()

    class Meta:
        verbose_name = "patient's EMR record"
        constraints = [models.UniqueConstraint(fields=["connection", "emr_id_index"], name="emr_map_unique_id")]

    def __str__(self) -> str:
        return f"EMR record of patient #{self.patient_id}"
