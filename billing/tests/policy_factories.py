"""A ready policy document without the embedding model (a fixed unit vector), for route and view tests."""

from __future__ import annotations

import hashlib

from django.core.files.base import ContentFile

from billing import policy_library
from billing.policy_models import PolicyChunk, PolicyDocument, PolicyStatus

SAMPLE = b"""# Sample Policy

## Covered indications

An injection is covered for radicular pain that has lasted four weeks.

## Frequency limits

At most four sessions per region in a rolling 12 months.
"""


def make_policy_document(*, data: bytes = SAMPLE, identifier: str = "L00001", title: str = "Sample Policy",
                         version: int = 1, is_current: bool = True, supersedes=None) -> PolicyDocument:
    extracted = policy_library.extract("sample.md", data)
    sha256 = hashlib.sha256(data + identifier.encode() + str(version).encode()).hexdigest()
    document = PolicyDocument(title=title, identifier=identifier, kind="lcd", original_filename="sample.md",
                              file_format="markdown", size_bytes=len(data), sha256=sha256, text=extracted.text,
                              version=version, supersedes=supersedes, is_current=is_current,
                              status=PolicyStatus.READY)
    document.file.save(f"{sha256}.md", ContentFile(data), save=False)
    document.save()
    vector = [0.0] * 383 + [1.0]
    PolicyChunk.objects.bulk_create([
        PolicyChunk(document=document, ordinal=c.ordinal, section=c.section, text=c.text, char_start=c.char_start,
                    char_end=c.char_end, embedding=vector)
        for c in policy_library.chunk_blocks(extracted.blocks)])
    return document
