"""Users, practices and memberships (roles), providers and facilities, the practice's EDI settings, the audit
trail, sessions and the PHI key canary."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from billy import identifiers
from billy.phi import PhiCharField


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: staff of one or more practices. Logins are email addresses."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False, help_text="May open the Django admin (practice admins).")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()
    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Practice(models.Model):
    """A surgery or pain practice: the unit every patient, dictation and claim belongs to."""

    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    PHYSICIAN = "physician", "Physician"
    BILLER = "biller", "Biller"
    ADMIN = "admin", "Practice admin"


class Membership(models.Model):
    """A user's role in one practice. Every query for practice data is scoped through these rows."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "practice"], name="one_membership_per_practice")]
        ordering = ["practice__name", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.practice}"


class AuditEvent(models.Model):
    """One append-only entry of the audit trail: who saw or changed what, when, from where.

    Rows are chained: `entry_hash` is an HMAC (key BILLY_AUDIT_KEY, kept outside the database) over the
    previous row's hash and this row's fields, so an edit, a deletion or a truncation of past rows breaks
    the chain and `manage.py verify_audit` names the first broken row. A database trigger refuses UPDATE
    and DELETE. Nothing here holds PHI: objects are named by type and id only.
    """

    sequence = models.BigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_email = models.CharField(max_length=254, blank=True)
    role = models.CharField(max_length=20, blank=True)
    practice_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-sequence"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.object_type}:{self.object_id}"


class UserSession(models.Model):
    """A signed-in browser session, so admins can see who is signed in and end a session."""

    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="browser_sessions")
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.user} since {self.created_at:%Y-%m-%d %H:%M}"


class KeyCanary(models.Model):
    """A known value encrypted under the PHI keys, checked at start: a wrong key stops the process."""

    purpose = models.CharField(max_length=32, unique=True)
    ciphertext = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.purpose


class PayerType(models.TextChoices):
    """What kind of payer a payer is: patients.Payer.payer_type, and the scope of billing's payer rules."""

    MEDICARE = "medicare", "Medicare"
    MEDICAID = "medicaid", "Medicaid"
    COMMERCIAL = "commercial", "Commercial"
    WORKERS_COMP = "workers_comp", "Workers' compensation"
    AUTO = "auto", "Automobile medical"
    SELF_PAY = "self_pay", "Self-pay"


class PlaceOfService(models.TextChoices):
    """CMS place of service codes a spine and pain practice bills from (CMS-1500 item 24B)."""

    OFFICE = "11", "11 Office"
    OFF_CAMPUS_OUTPATIENT = "19", "19 Off-campus outpatient hospital"
    INPATIENT = "21", "21 Inpatient hospital"
    ON_CAMPUS_OUTPATIENT = "22", "22 On-campus outpatient hospital"
    EMERGENCY = "23", "23 Emergency room (hospital)"
    ASC = "24", "24 Ambulatory surgical center"
    TELEHEALTH = "02", "02 Telehealth (not in the patient's home)"


class ProviderEntity(models.TextChoices):
    """837P NM102: a person or an organisation (a group billing under its own NPI)."""

    PERSON = "1", "Person"
    ORGANISATION = "2", "Organisation"


class TaxIdType(models.TextChoices):
    """837P REF01 of the billing provider's tax id: EI (EIN) or SY (social security number)."""

    EIN = "EI", "EIN"
    SSN = "SY", "SSN"


class Provider(models.Model):
    """A rendering, billing or referring provider (CMS-1500 items 17, 24J, 25 and 33; 837P 2010AA, 2310A/B)."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="providers")
    entity = models.CharField(max_length=1, choices=ProviderEntity.choices, default=ProviderEntity.PERSON)
    family_name = models.CharField(max_length=60, blank=True)
    given_name = models.CharField(max_length=35, blank=True)
    middle_name = models.CharField(max_length=25, blank=True)
    credential = models.CharField(max_length=20, blank=True, help_text="MD, DO, PA-C, NP ...")
    organisation_name = models.CharField(max_length=60, blank=True)
    npi = models.CharField("NPI", max_length=10, validators=[identifiers.validate_npi])
    taxonomy = models.CharField("taxonomy code", max_length=10, blank=True, validators=[identifiers.validate_taxonomy],
                                help_text="NUCC code, e.g. 207X00000X orthopaedic surgery, 2084P0800X pain medicine.")
    tax_id_type = models.CharField(max_length=2, choices=TaxIdType.choices, blank=True)
    # A person's SSN can be their tax id: kept encrypted like PHI.
    tax_id = PhiCharField("tax id (EIN or SSN)", max_length=11, null=True, blank=True)
    is_rendering = models.BooleanField("renders services", default=False)
    is_billing = models.BooleanField("bills (pay-to)", default=False)
    is_referring = models.BooleanField("refers patients", default=False)
    address_line1 = models.CharField("street address", max_length=200, blank=True)
    address_line2 = models.CharField("street address (line 2)", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=2, blank=True, validators=[identifiers.validate_state])
    postal_code = models.CharField("ZIP code", max_length=10, blank=True, validators=[identifiers.validate_postal_code])
    phone = models.CharField(max_length=20, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="provider_records", help_text="The physician's own login, if they have one.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["family_name", "organisation_name"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "npi"], name="provider_npi_unique_per_practice"),
            models.UniqueConstraint(fields=["practice", "user"], condition=Q(user__isnull=False),
                                    name="one_provider_record_per_login"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} (NPI {self.npi})"

    @property
    def display_name(self) -> str:
        if self.entity == ProviderEntity.ORGANISATION:
            return self.organisation_name
        name = " ".join(part for part in (self.given_name, self.middle_name, self.family_name) if part)
        return f"{name}, {self.credential}" if self.credential else name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.entity == ProviderEntity.PERSON and not (self.family_name and self.given_name):
            errors["family_name"] = "A person needs a family name and a given name."
        if self.entity == ProviderEntity.ORGANISATION and not self.organisation_name:
            errors["organisation_name"] = "An organisation needs its name."
        if self.npi and self.entity == ProviderEntity.PERSON and not self.npi.startswith("1"):
            errors["npi"] = "A person's NPI (type 1) starts with 1; 2 is an organisation's."
        if self.npi and self.entity == ProviderEntity.ORGANISATION and not self.npi.startswith("2"):
            errors["npi"] = "An organisation's NPI (type 2) starts with 2; 1 is a person's."
        if self.is_billing:
            # 837P 2010AA: the billing provider has a tax id, taxonomy, a street address and a ZIP+4.
            for field in ("address_line1", "city", "state", "postal_code"):
                if not getattr(self, field):
                    errors[field] = "A billing provider needs a full street address."
            if not self.taxonomy:
                errors["taxonomy"] = "A billing provider needs a taxonomy code (837P PRV, 2000A)."
            if not self.tax_id or not self.tax_id_type:
                errors["tax_id"] = "A billing provider needs a tax id (EIN or SSN) and its type."
            if self.postal_code and identifiers.postal_code_problem(self.postal_code, nine_digits=True):
                errors["postal_code"] = identifiers.postal_code_problem(self.postal_code, nine_digits=True)
        if self.is_rendering and self.entity != ProviderEntity.PERSON:
            errors["is_rendering"] = "A rendering provider is a person."
        if self.tax_id and self.tax_id_type:
            check = identifiers.ein_problem if self.tax_id_type == TaxIdType.EIN else identifiers.ssn_problem
            if problem := check(self.tax_id):
                errors["tax_id"] = problem
        for field in ("address_line1", "address_line2"):
            if identifiers.is_po_box(getattr(self, field)) and self.is_billing:
                errors[field] = "The billing provider's address must be a street address, not a PO box (837P 2010AA)."
        if self.phone and (problem := identifiers.phone_problem(self.phone)):
            errors["phone"] = problem
        if errors:
            raise ValidationError(errors)


class Facility(models.Model):
    """Where the service was rendered (CMS-1500 item 32; 837P 2310C)."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="facilities")
    name = models.CharField(max_length=60)
    npi = models.CharField("NPI", max_length=10, blank=True, validators=[identifiers.validate_npi])
    address_line1 = models.CharField("street address", max_length=200,
                                     validators=[identifiers.validate_physical_address])
    address_line2 = models.CharField("street address (line 2)", max_length=200, blank=True,
                                     validators=[identifiers.validate_physical_address])
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2, validators=[identifiers.validate_state])
    postal_code = models.CharField("ZIP code", max_length=10, validators=[identifiers.validate_postal_code])
    default_place_of_service = models.CharField(max_length=2, choices=PlaceOfService.choices,
                                                default=PlaceOfService.ON_CAMPUS_OUTPATIENT)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "facilities"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["practice", "name"], name="facility_name_unique_per_practice")]

    def __str__(self) -> str:
        return self.name


class UsageIndicator(models.TextChoices):
    TEST = "T", "Test"
    PRODUCTION = "P", "Production"


class EdiSettings(models.Model):
    """The practice's identity on the 837P envelope (ISA/GS, loop 1000A submitter, 1000B receiver)."""

    practice = models.OneToOneField(Practice, on_delete=models.CASCADE, related_name="edi_settings")
    submitter_id = models.CharField("submitter id", max_length=15,
                                    help_text="Assigned by the clearinghouse (ISA06, GS02, 1000A NM109).")
    submitter_name = models.CharField(max_length=60)
    contact_name = models.CharField(max_length=60)
    contact_phone = models.CharField(max_length=20, validators=[identifiers.validate_phone])
    contact_email = models.EmailField(blank=True)
    receiver_id = models.CharField("receiver id", max_length=15, help_text="The clearinghouse's id (ISA08, GS03).")
    receiver_name = models.CharField(max_length=60)
    interchange_id_qualifier = models.CharField("ISA id qualifier", max_length=2, default="ZZ",
                                                help_text="ZZ (mutually defined) unless the clearinghouse says 30 "
                                                          "(tax id) or 01 (DUNS).")
    usage_indicator = models.CharField("ISA15 usage", max_length=1, choices=UsageIndicator.choices,
                                       default=UsageIndicator.TEST)

    class Meta:
        verbose_name = verbose_name_plural = "EDI settings"

    def __str__(self) -> str:
        return f"EDI settings of {self.practice}"


class LanguageModelStatus(models.Model):
    """The second reader's model as each LLM worker host last saw it: for the admin (what is loaded, how fast it
    loaded, the last error). One row per host; written by claims.second_reading, never holds PHI."""

    host = models.CharField(max_length=120, unique=True)
    model_name = models.CharField(max_length=120, blank=True)
    backend = models.CharField(max_length=20, blank=True)
    device = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=500, blank=True)
    context_tokens = models.PositiveIntegerField(null=True, blank=True)
    threads = models.PositiveSmallIntegerField(null=True, blank=True)
    load_seconds = models.FloatField(null=True, blank=True)
    loaded_at = models.DateTimeField(null=True, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    available = models.BooleanField(default=False)
    reads_done = models.PositiveIntegerField(default=0)
    reads_failed = models.PositiveIntegerField(default=0)
    last_read_at = models.DateTimeField(null=True, blank=True)
    last_read_seconds = models.FloatField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "language model status"
        verbose_name_plural = "language model status"

    def __str__(self) -> str:
        return f"{self.model_name or 'no model'} on {self.host}"
