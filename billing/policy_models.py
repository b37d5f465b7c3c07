"""The coverage policy library: uploaded policy documents (every version kept) and their embedded chunks.

Policy documents are public (CMS LCDs and billing articles, payer manuals, NCCI chapters), not PHI, and the
same for every practice. They are stored like every other file (the default storage, encrypted at rest) and
indexed twice: a pgvector HNSW index over each chunk's embedding and a GIN index over its weighted tsvector.

These tables are managed: Django's flush between transactional tests (live_server, worker tests) empties them,
so such a test loads the policies it needs itself. Keep foreign keys from unmanaged (never flushed) tables off
them: PostgreSQL refuses to TRUNCATE a table that another, untruncated table references.

Imported at the end of billing/models.py, so Django finds these models in the billing app.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from pgvector.django import HnswIndex, VectorField

from billing.embeddings import DIMENSIONS
from billing.models import PAYER_SCOPES


class PolicyKind(models.TextChoices):
    LCD = "lcd", "LCD (local coverage determination)"
    ARTICLE = "article", "Billing and coding article"
    MANUAL = "manual", "Payer manual"
    NCCI = "ncci", "NCCI policy manual"
    OTHER = "other", "Other"


class PolicyStatus(models.TextChoices):
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


def policy_file_path(instance: PolicyDocument, filename: str) -> str:
    return f"policies/{instance.sha256[:2]}/{instance.sha256}{instance.file_suffix}"


class PolicyDocumentQuerySet(models.QuerySet):
    def current(self):
        return self.filter(is_current=True, status=PolicyStatus.READY)

    def searchable(self, *, document_ids=None, payer_type: str | None = None, payer_id: str | None = None):
        """Documents a search looks in: the current, ready versions, or exactly the documents named."""
        qs = self.filter(pk__in=list(document_ids), status=PolicyStatus.READY) if document_ids is not None \
            else self.current()
        if payer_type:
            qs = qs.filter(Q(payer_type="") | Q(payer_type=payer_type))
        if payer_id:
            # payer_ids is space separated; blank applies to every payer of the payer type.
            qs = qs.filter(Q(payer_ids="") | Q(payer_ids__regex=rf"(^|[\s,]){_regex_escape(payer_id)}($|[\s,])"))
        return qs


def _regex_escape(value: str) -> str:
    import re

    return re.escape(value)


class PolicyDocument(models.Model):
    """One version of a policy document. A new upload with the same identifier is the next version: the old one
    stays (is_current=False) for audit, and findings that cited it still open it at the passage they quoted.

    A version becomes current when its processing succeeds (in the same transaction that writes its chunks and
    retires the previous version), so the library never searches a half-indexed document, and a failed new
    version leaves the old one in use.
    """

    title = models.CharField(max_length=300)
    kind = models.CharField(max_length=10, choices=PolicyKind.choices, default=PolicyKind.OTHER)
    identifier = models.CharField(max_length=40, blank=True, db_index=True,
                                  help_text="The CMS or payer document id (L33906, A56651); versions share it. "
                                            "Without one, versions are matched by title.")
    payer_type = models.CharField(max_length=20, choices=PAYER_SCOPES, blank=True, default="",
                                  help_text="Empty: applies to every payer.")
    payer_ids = models.CharField("EDI payer ids", max_length=300, blank=True,
                                 help_text="Space separated; empty: every payer of the payer type.")
    source_url = models.URLField(max_length=500, blank=True)
    effective_date = models.DateField(null=True, blank=True)

    file = models.FileField(upload_to=policy_file_path, max_length=200)
    original_filename = models.CharField(max_length=255)
    file_format = models.CharField(max_length=10)  # pdf, html, text, markdown
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, unique=True,
                              error_messages={"unique": "This exact file is already in the policy library."})
    text = models.TextField(blank=True, help_text="The extracted text; chunk offsets point into it.")

    version = models.PositiveIntegerField(default=1)
    supersedes = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="superseded_by")
    is_current = models.BooleanField(default=False)

    status = models.CharField(max_length=10, choices=PolicyStatus.choices, default=PolicyStatus.PROCESSING)
    status_message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    objects = PolicyDocumentQuerySet.as_manager()

    class Meta:
        ordering = ["identifier", "title", "-version"]
        constraints = [
            # One current version per document: the processing transaction retires the old one first.
            models.UniqueConstraint(fields=["identifier"], condition=Q(is_current=True) & ~Q(identifier=""),
                                    name="policy_one_current_per_identifier"),
            models.UniqueConstraint(fields=["identifier", "version"], condition=~Q(identifier=""),
                                    name="policy_identifier_version_unique"),
            models.CheckConstraint(condition=Q(is_current=False) | Q(status="ready"), name="policy_current_is_ready"),
        ]

    def __str__(self) -> str:
        ident = f"{self.identifier} " if self.identifier else ""
        return f"{ident}{self.title} (v{self.version})"

    @property
    def file_suffix(self) -> str:
        return {"pdf": ".pdf", "html": ".html", "markdown": ".md"}.get(self.file_format, ".txt")


class PolicyChunk(models.Model):
    """A passage of one document version: a section's text (or part of it), embedded and full-text indexed."""

    document = models.ForeignKey(PolicyDocument, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    section = models.CharField(max_length=300, blank=True)
    text = models.TextField()
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    embedding = VectorField(dimensions=DIMENSIONS)
    # Section titles weigh more than body text in the full-text rank ("Limitations" in a question).
    search = models.GeneratedField(
        expression=SearchVector("section", weight="A", config="english")
        + SearchVector("text", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["document", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="policy_chunk_ordinal_unique"),
        ]
        indexes = [
            # pgvector's defaults (m=16, ef_construction=64): 20k chunks index in seconds, a query takes ~1 ms.
            HnswIndex(name="policy_chunk_embedding_hnsw", fields=["embedding"], m=16, ef_construction=64,
                      opclasses=["vector_cosine_ops"]),
            GinIndex(name="policy_chunk_search_gin", fields=["search"]),
        ]

    def __str__(self) -> str:
        return f"{self.document} §{self.section or '-'} #{self.ordinal}"
