"""The practice's fee schedule. Reference data (CPT catalogue, ICD-10-CM, payer edits) lives in files, not here."""

from __future__ import annotations

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateRangeField, RangeBoundary, RangeOperators
from django.db import models
from django.db.models import F, Func, Q
from simple_history.models import HistoricalRecords

from billing import cpt
from billy.models import PayerType, Practice


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
    0002 (billing.code_search.reference_codes_reload; run it again after a catalogue or code-set change: there is
    no management command for it yet). It is unmanaged on purpose: Django's flush (between transactional
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


# --- scrubbing reference tables --------------------------------------------------------------------------------
#
# NCCI edits, MUEs, payer rules, modifier conventions and coverage policies are reference data: the same for every
# practice, edited by admins in the Django admin (with history), imported from CMS's quarterly files, and seeded
# from billing/data. They are unmanaged once created (migration 0003 creates them, then marks them unmanaged):
# Django's flush between transactional tests skips unmanaged tables, so the workers and live servers of those
# tests scrub against the same tables as production. A later migration that changes one of them marks it
# managed, alters it, and marks it unmanaged again.

# Which payers a rule applies to: a payer type (the practice's Payer.payer_type), blank for every payer.
PAYER_SCOPES = [("", "Every payer"), *PayerType.choices]


class EditOrigin(models.TextChoices):
    SEED = "seed", "IamBilly seed (verify)"
    CMS = "cms", "CMS quarterly file"
    ADMIN = "admin", "Entered by an admin"


class NCCIEdit(models.Model):
    """One NCCI procedure-to-procedure edit (practitioner services): column 2 is not paid with column 1 for the
    same patient, provider and date, unless the modifier indicator (1) lets a distinct-service modifier through.

    CMS publishes the full table every quarter; `manage.py import_ncci` replaces the CMS rows with the new
    quarter's in one transaction. Seed and admin rows stay, and CMS rows win when both pair the same codes.
    """

    class ModifierIndicator(models.IntegerChoices):
        NEVER = 0, "0: no modifier allowed"
        ALLOWED = 1, "1: a distinct-service modifier allowed"
        NOT_APPLICABLE = 9, "9: edit not in effect"

    column1 = models.CharField("column 1 code", max_length=5)
    column2 = models.CharField("column 2 code", max_length=5)
    effective = models.DateField("effective date")
    deleted = models.DateField("deletion date", null=True, blank=True,
                               help_text="Last day the edit applies; empty ('*' in the CMS file): no deletion date.")
    modifier_indicator = models.PositiveSmallIntegerField(choices=ModifierIndicator.choices)
    rationale = models.CharField("PTP edit rationale", max_length=300, blank=True)
    source = models.CharField(max_length=200, blank=True, help_text="File and quarter, or the policy it rests on.")
    origin = models.CharField(max_length=5, choices=EditOrigin.choices, default=EditOrigin.ADMIN)
    history = HistoricalRecords(table_name="billing_ncci_edit_history")

    class Meta:
        managed = False  # see "scrubbing reference tables" above
        db_table = "billing_ncci_edit"
        verbose_name = "NCCI PTP edit"
        ordering = ["column1", "column2", "-effective"]
        indexes = [models.Index(fields=["column1", "column2"], name="ncci_edit_pair_idx"),
                   models.Index(fields=["origin"], name="ncci_edit_origin_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(modifier_indicator__in=[0, 1, 9]), name="ncci_modifier_indicator"),
            models.CheckConstraint(condition=Q(deleted__isnull=True) | Q(deleted__gte=F("effective")),
                                   name="ncci_dates_in_order"),
        ]

    def __str__(self) -> str:
        return f"{self.column1}/{self.column2} ({self.modifier_indicator})"


class MUE(models.Model):
    """A medically unlikely edit: the most units of a code one provider reports for one patient on one date."""

    class AdjudicationIndicator(models.IntegerChoices):
        LINE = 1, "1: line edit"
        DATE_POLICY = 2, "2: date of service edit (policy)"
        DATE_CLINICAL = 3, "3: date of service edit (clinical)"

    code = models.CharField("HCPCS/CPT code", max_length=5)
    units = models.PositiveSmallIntegerField("MUE values")
    adjudication_indicator = models.PositiveSmallIntegerField("MUE adjudication indicator",
                                                              choices=AdjudicationIndicator.choices)
    rationale = models.CharField("MUE rationale", max_length=300, blank=True)
    effective = models.DateField("effective date", null=True, blank=True)
    source = models.CharField(max_length=200, blank=True, help_text="File and quarter, or the policy it rests on.")
    origin = models.CharField(max_length=5, choices=EditOrigin.choices, default=EditOrigin.ADMIN)
    history = HistoricalRecords(table_name="billing_mue_history")

    class Meta:
        managed = False  # see "scrubbing reference tables" above
        db_table = "billing_mue"
        verbose_name = "MUE"
        verbose_name_plural = "MUEs"
        ordering = ["code"]
        indexes = [models.Index(fields=["code"], name="mue_code_idx")]
        constraints = [
            models.UniqueConstraint(fields=["code", "origin"], name="mue_one_per_code_and_origin"),
            models.CheckConstraint(condition=Q(adjudication_indicator__in=[1, 2, 3]),
                                   name="mue_adjudication_indicator"),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.units} (MAI {self.adjudication_indicator})"


class ScopedRule(models.Model):
    """What payer rules, modifier conventions and coverage policies share: which payers, which dates."""

    payer_type = models.CharField(max_length=20, choices=PAYER_SCOPES, blank=True, default="")
    payer_ids = models.CharField("EDI payer ids", max_length=300, blank=True,
                                 help_text="Space or comma separated; empty: every payer of the payer type.")
    effective = models.DateField("first date of service", null=True, blank=True)
    ends = models.DateField("last date of service", null=True, blank=True)
    active = models.BooleanField(default=True)
    origin = models.CharField(max_length=5, choices=EditOrigin.choices, default=EditOrigin.ADMIN)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    @property
    def payer_id_list(self) -> tuple[str, ...]:
        return split_payer_ids(self.payer_ids)


def split_payer_ids(text: str) -> tuple[str, ...]:
    return tuple(p for p in (text or "").replace(",", " ").split() if p)


class PayerRule(ScopedRule):
    """A payer's own edit, written as a condition (billing.payer_rules: a small declarative language, checked
    when saved) and the finding it raises."""

    class Severity(models.TextChoices):
        ERROR = "error", "Error: blocks approval until fixed or overridden"
        WARNING = "warning", "Warning"
        INFO = "info", "Information"

    rule_id = models.SlugField("rule id", max_length=40, unique=True,
                               help_text="Shown on every finding, e.g. MEDICARE-ESI-REGIONS.")
    name = models.CharField(max_length=200)
    when = models.JSONField("condition", help_text="When the rule fires: see billing/payer_rules.py.")
    severity = models.CharField(max_length=7, choices=Severity.choices, default=Severity.WARNING)
    message = models.CharField(max_length=600, help_text="What the biller reads; {codes}, {units}, {max} … fill in.")
    fix = models.CharField(max_length=400, blank=True)
    source_title = models.CharField(max_length=200, blank=True)
    source_section = models.CharField(max_length=200, blank=True)
    source_passage = models.TextField(blank=True)
    history = HistoricalRecords(table_name="billing_payer_rule_history")

    class Meta:
        managed = False  # see "scrubbing reference tables" above
        db_table = "billing_payer_rule"
        ordering = ["rule_id"]

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.name}"


class ModifierMap(ScopedRule):
    """A payer's modifier conventions: 59 or the X modifiers for distinct services, and bilateral procedures."""

    class Distinct(models.TextChoices):
        X = "X", "XE/XP/XS/XU (CMS's preference)"
        FIFTY_NINE = "59", "59 only"

    class Bilateral(models.TextChoices):
        FIFTY = "50", "One line with 50 and 1 unit"
        SIDES = "LT-RT", "Two lines, LT and RT"

    name = models.CharField(max_length=200)
    distinct_modifier = models.CharField(max_length=2, choices=Distinct.choices, default=Distinct.X)
    bilateral = models.CharField(max_length=5, choices=Bilateral.choices, default=Bilateral.FIFTY)
    notes = models.TextField(blank=True)
    history = HistoricalRecords(table_name="billing_modifier_map_history")

    class Meta:
        managed = False  # see "scrubbing reference tables" above
        db_table = "billing_modifier_map"
        ordering = ["payer_type", "payer_ids"]

    def __str__(self) -> str:
        return self.name


class CoveragePolicy(ScopedRule):
    """A coverage policy (an LCD and its billing article, or a payer's policy): the procedures it covers and the
    diagnoses that support their medical necessity, with the passage it rests on."""

    policy_id = models.CharField("policy id", max_length=40, help_text="e.g. L39242 / A56651.")
    title = models.CharField(max_length=200)
    cpt_codes = models.TextField("procedure codes", help_text="Space separated; ranges allowed (64490-64495).")
    covered_diagnoses = models.TextField(
        "covered ICD-10-CM", help_text="Codes or prefixes (M54.1 covers M54.10-M54.18), space separated.")
    document_title = models.CharField(max_length=200, blank=True)
    section = models.CharField(max_length=200, blank=True)
    passage = models.TextField(blank=True, help_text="The sentence(s) the list rests on, as the document has them.")
    source_ref = models.CharField(max_length=80, blank=True, help_text="Filled in: the library passage cited.")
    history = HistoricalRecords(table_name="billing_coverage_policy_history")

    class Meta:
        managed = False  # see "scrubbing reference tables" above
        db_table = "billing_coverage_policy"
        verbose_name_plural = "coverage policies"
        ordering = ["policy_id"]

    def __str__(self) -> str:
        return f"{self.policy_id}: {self.title}"


from billing.policy_models import PolicyChunk, PolicyDocument  # noqa: E402,F401  (policy library models)
