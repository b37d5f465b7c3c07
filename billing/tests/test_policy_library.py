"""The coverage policy library: extraction per format, chunking, synonyms, versions, processing, hybrid search
over a small policy set (billing/tests/policies, written for these tests), the biller's document page and the
admin upload. Real PostgreSQL with pgvector, real embedding model."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from billing import policy_library
from billing.policy_library import Block, PolicyFileError, chunk_blocks, expand_query, expansions, extract

HERE = Path(__file__).resolve().parent
TEST_POLICIES = HERE / "policies"
SEED = HERE.parent / "data"


def _pdf(paragraphs: list[tuple[str, str]]) -> bytes:
    """A PDF with a text layer: ("h", text) in bold 14 pt, ("p", text) in 10 pt, wrapped at 90 characters."""
    import textwrap

    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=letter)
    y = 740
    for kind, text in paragraphs:
        if kind == "h":
            y -= 12
            pdf.setFont("Helvetica-Bold", 14)
            pdf.drawString(72, y, text)
            y -= 22
        else:
            pdf.setFont("Helvetica", 10)
            for line in textwrap.wrap(text, 90):
                pdf.drawString(72, y, line)
                y -= 13
            y -= 10
        if y < 90:
            pdf.showPage()
            y = 740
    pdf.save()
    return buffer.getvalue()


def _scanned_pdf() -> bytes:
    """A PDF whose only content is a picture of text: what a scanner produces."""
    from PIL import Image, ImageDraw
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    image = Image.new("RGB", (800, 300), "white")
    ImageDraw.Draw(image).text((20, 20), "Covered indications: radiculopathy", fill="black")
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=letter)
    pdf.drawImage(ImageReader(image), 72, 400, width=400, height=150)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# --- extraction --------------------------------------------------------------------------------------------


def test_markdown_is_read_as_headings_and_paragraphs_and_its_front_matter_as_details():
    extracted = extract("esi.md", (TEST_POLICIES / "esi_test_policy.md").read_bytes())
    assert extracted.format == "markdown"
    assert extracted.metadata["identifier"] == "T-ESI"
    assert [b.text for b in extracted.blocks if b.kind == "heading"] == [
        "Test ESI Policy", "Purpose", "Indications", "Session limits", "Guidance"]
    assert "identifier:" not in extracted.text


def test_html_headings_become_sections_and_scripts_styles_and_navigation_are_dropped():
    extracted = extract("facet.html", (TEST_POLICIES / "facet_test_policy.html").read_bytes())
    headings = [b.text for b in extracted.blocks if b.kind == "heading"]
    assert headings == ["Test Facet Policy", "Diagnostic blocks", "Ablation limits"]
    assert "Pulsed and cooled radiofrequency are not covered." in [b.text for b in extracted.blocks]
    assert "notPolicyText" not in extracted.text and "color: red" not in extracted.text
    assert "Home | Search" not in extracted.text


def test_plain_text_headings_are_recognised_by_their_shape():
    extracted = extract("fusion.txt", (TEST_POLICIES / "fusion_test_policy.txt").read_bytes())
    assert [b.text for b in extracted.blocks if b.kind == "heading"] == [
        "Test Fusion Policy", "COVERED CONDITIONS", "Nicotine", "Operating microscope"]


def test_a_pdf_with_a_text_layer_is_read_with_its_bold_headings_and_wrapped_paragraphs():
    long = ("Medicare covers an epidural steroid injection for radicular pain that has lasted at least four weeks "
            "and limits daily function despite physical therapy and medication.")
    data = _pdf([("h", "Covered Indications"), ("p", long), ("h", "Frequency Limits"),
                 ("p", "At most four sessions per spinal region in a rolling 12 months.")])
    extracted = extract("lcd.pdf", data)
    assert extracted.format == "pdf" and extracted.pages == 1
    assert [b.text for b in extracted.blocks if b.kind == "heading"] == ["Covered Indications", "Frequency Limits"]
    assert long in extracted.text  # the wrapped lines are one paragraph again
    chunks = chunk_blocks(extracted.blocks)
    assert [c.section for c in chunks] == ["Covered Indications", "Frequency Limits"]


def test_a_pdf_with_no_text_layer_is_refused_as_a_scan():
    with pytest.raises(PolicyFileError, match="no text layer .*1 page with 1 image.*OCR"):
        extract("scanned.pdf", _scanned_pdf())


@pytest.mark.parametrize(("name", "data", "message"), [
    ("empty.txt", b"", "is empty"),
    ("blank.md", b"  \n\n ", "is empty"),
    ("policy.docx", b"PK\x03\x04 word document", r"\.docx, which the policy library does not read"),
    ("policy.pdf", b"<html>not a pdf</html>", "is named .pdf but is not a PDF"),
    ("broken.pdf", b"%PDF-1.7\nthis is not really a pdf", "could not be read as a PDF"),
    ("binary.txt", b"\x00\x01\x02 binary", "holds binary data"),
    ("headings.md", b"# Only a title\n\n## And a heading\n", "no readable text"),
])
def test_unreadable_files_are_refused_with_a_reason(name, data, message):
    with pytest.raises(PolicyFileError, match=message):
        extract(name, data)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read():
    with pytest.raises(PolicyFileError, match=r"1\.0 MB; the policy library takes files up to 0 MB"):
        extract("big.txt", b"a" * (1024 * 1024), max_bytes=1000)


# --- chunking ----------------------------------------------------------------------------------------------


def test_each_chunk_keeps_its_section_and_its_offsets_into_the_document_text():
    blocks = [Block("heading", "Limits", 2), Block("paragraph", "One."), Block("paragraph", "Two."),
              Block("heading", "Coding", 2), Block("paragraph", "Three.")]
    chunks = chunk_blocks(blocks)
    text = policy_library.document_text(blocks)
    assert [(c.section, c.text) for c in chunks] == [("Limits", "One.\n\nTwo."), ("Coding", "Three.")]
    assert all(text[c.char_start:c.char_end] == c.text for c in chunks)
    assert [c.ordinal for c in chunks] == [0, 1]


def test_a_long_section_is_split_on_paragraphs_and_sentences_under_the_cap():
    sentence = "The patient must show at least fifty percent relief for three months before a repeat. "
    blocks = [Block("heading", "Repeat injections", 2), Block("paragraph", (sentence * 30).strip()),
              Block("paragraph", "A short closing paragraph.")]
    chunks = chunk_blocks(blocks, max_chars=400)
    text = policy_library.document_text(blocks)
    assert len(chunks) > 5
    assert all(len(c.text) <= 400 and c.section == "Repeat injections" for c in chunks)
    assert all(text[c.char_start:c.char_end] == c.text for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)  # cut at sentence ends
    assert chunks[-1].text.endswith("A short closing paragraph.")


def test_the_seed_documents_chunk_into_one_passage_per_short_section():
    for path in sorted((SEED / "policies").glob("*.md")):
        extracted = extract(path.name, path.read_bytes())
        chunks = chunk_blocks(extracted.blocks)
        assert all(len(c.text) <= policy_library.CHUNK_MAX_CHARS for c in chunks), path.name
        assert all(extracted.text[c.char_start:c.char_end] == c.text for c in chunks), path.name
        assert chunks[0].section == "About this summary" and "IamBilly summary" in chunks[0].text


# --- synonyms ----------------------------------------------------------------------------------------------


def test_the_synonym_table_is_well_formed():
    with (SEED / "spine_synonyms.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["kind"] for r in rows} <= {"abbreviation", "lay", "synonym"}
    terms = [r["term"].lower() for r in rows]
    assert len(terms) == len(set(terms))
    for required in ("ACDF", "TLIF", "PLIF", "DBM", "MBB", "RFA", "ESI", "TFESI", "SCS", "pinched nerve"):
        assert required.lower() in terms


def test_lay_words_and_abbreviations_expand_to_policy_language():
    assert "radiculopathy" in expand_query("pinched nerve in the neck injection")
    assert "cervical" in expand_query("pinched nerve in the neck injection")
    assert "transforaminal epidural steroid injection" in expansions("TFESI at L4-5")
    assert "demineralized bone matrix allograft" in expansions("DBM packed in the cage")
    # The expansion of an abbreviation finds the abbreviation a policy may use instead.
    assert "MBB" in expansions("two medial branch blocks")
    # Short abbreviations match in capitals only: "si" and "pt" are ordinary words in lower case.
    assert "sacroiliac joint" in expansions("SI joint injection")
    assert "sacroiliac joint" not in expansions("si senor")
    assert expand_query("nothing to add here") == "nothing to add here"


# --- the library in the database ---------------------------------------------------------------------------


def _upload(path: Path, **details):
    from billing.policy_services import PolicyDetails, policy_document_process, policy_document_upload

    document = policy_document_upload(filename=path.name, data=path.read_bytes(), details=PolicyDetails(**details),
                                      enqueue=False)
    assert policy_document_process(document_id=document.pk)
    document.refresh_from_db()
    return document


@pytest.fixture
def test_library(db):
    return {path.stem: _upload(path) for path in sorted(TEST_POLICIES.iterdir())}


@pytest.mark.django_db
def test_an_upload_is_processed_into_a_ready_current_document_with_embedded_chunks(world):
    from billing.policy_models import PolicyStatus

    document = _upload(TEST_POLICIES / "esi_test_policy.md")
    assert (document.status, document.is_current, document.version) == (PolicyStatus.READY, True, 1)
    assert (document.identifier, document.kind, document.payer_type) == ("T-ESI", "lcd", "medicare")
    chunks = list(document.chunks.order_by("ordinal"))
    assert [c.section for c in chunks] == ["Purpose", "Indications", "Session limits", "Guidance"]
    assert all(document.text[c.char_start:c.char_end] == c.text for c in chunks)
    assert len(chunks[0].embedding) == 384
    assert abs(sum(v * v for v in chunks[0].embedding) - 1.0) < 1e-3  # unit length
    with document.file.open("rb") as f:  # stored encrypted, read back whole
        assert f.read() == (TEST_POLICIES / "esi_test_policy.md").read_bytes()


@pytest.mark.django_db
def test_a_new_version_with_the_same_identifier_keeps_the_old_one_for_audit(world):
    first = _upload(TEST_POLICIES / "esi_test_policy.md")
    changed = (TEST_POLICIES / "esi_test_policy.md").read_text().replace("four injection sessions",
                                                                          "three injection sessions")
    from billing.policy_services import PolicyDetails, policy_document_process, policy_document_upload

    second = policy_document_upload(filename="esi_v2.md", data=changed.encode(), details=PolicyDetails(),
                                    enqueue=False)
    assert (second.version, second.supersedes_id, second.is_current) == (2, first.pk, False)
    first.refresh_from_db()
    assert first.is_current  # until the new version is indexed, the old one answers searches
    policy_document_process(document_id=second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_current, second.is_current) == (False, True)
    assert first.chunks.exists()  # kept whole, for findings that cited it
    passages = policy_library.search("how many sessions per region a year", k=3)
    assert {p.document_id for p in passages} == {second.pk}
    assert "three injection sessions" in passages[0].text


@pytest.mark.django_db
def test_the_same_bytes_uploaded_again_are_refused(world):
    from billing.policy_models import PolicyDocument
    from billing.policy_services import policy_document_upload

    _upload(TEST_POLICIES / "esi_test_policy.md")
    with pytest.raises(PolicyFileError, match="This exact file is already in the policy library: T-ESI Test ESI"):
        policy_document_upload(filename="copy.md", data=(TEST_POLICIES / "esi_test_policy.md").read_bytes(),
                               enqueue=False)
    assert PolicyDocument.objects.count() == 1


@pytest.mark.django_db
def test_a_failed_processing_leaves_no_chunks_says_why_and_can_be_retried(world, monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    from billing import embeddings
    from billing.policy_models import PolicyChunk, PolicyStatus
    from billing.policy_services import (
        PolicyDetails,
        policy_document_process,
        policy_document_retry,
        policy_document_upload,
    )

    calls = []

    def broken(texts, **kwargs):
        calls.append(len(texts))
        raise RuntimeError("out of memory")

    path = TEST_POLICIES / "fusion_test_policy.txt"
    document = policy_document_upload(filename=path.name, data=path.read_bytes(),
                                      details=PolicyDetails(identifier="T-FUS"), enqueue=False)
    monkeypatch.setattr(embeddings, "embed", broken)
    assert policy_document_process(document_id=document.pk) is False
    document.refresh_from_db()
    assert document.status == PolicyStatus.FAILED and not document.is_current
    assert "RuntimeError: out of memory" in document.status_message and "retry" in document.status_message
    assert not PolicyChunk.objects.filter(document=document).exists()
    assert policy_document_process(document_id=document.pk) is False  # a failed one waits for a retry
    assert calls == [4]

    monkeypatch.undo()
    with django_capture_on_commit_callbacks() as callbacks:
        policy_document_retry(document=document)
    assert len(callbacks) == 1  # queued on the inference cluster after commit
    assert policy_document_process(document_id=document.pk) is True
    document.refresh_from_db()
    assert document.status == PolicyStatus.READY and document.is_current and document.chunks.count() == 4
    assert policy_document_process(document_id=document.pk) is False  # a second delivery does nothing


@pytest.mark.django_db
def test_a_database_error_while_writing_chunks_leaves_none_behind(world, monkeypatch):
    from billing.policy_models import PolicyChunk, PolicyStatus
    from billing.policy_services import PolicyDetails, policy_document_process, policy_document_upload

    path = TEST_POLICIES / "esi_test_policy.md"
    document = policy_document_upload(filename=path.name, data=path.read_bytes(), details=PolicyDetails(),
                                      enqueue=False)
    real = PolicyChunk.objects.bulk_create

    def half_then_fail(objs, **kwargs):
        real(objs[:2], **kwargs)
        raise RuntimeError("connection lost")

    monkeypatch.setattr(PolicyChunk.objects, "bulk_create", half_then_fail)
    assert policy_document_process(document_id=document.pk) is False
    document.refresh_from_db()
    assert document.status == PolicyStatus.FAILED
    assert not PolicyChunk.objects.filter(document=document).exists()


@pytest.mark.parametrize(("query", "document", "section"), [
    ("pinched nerve in the neck injection", "esi_test_policy", "Indications"),
    ("how many times a year can I get a back shot", "esi_test_policy", "Session limits"),
    ("is fluoroscopy billed separately with the injection", "esi_test_policy", "Guidance"),
    ("how much relief do the MBB need before RFA", "facet_test_policy", "Diagnostic blocks"),
    ("how often can they burn the nerves", "facet_test_policy", "Ablation limits"),
    ("does the patient have to quit smoking before a back fusion", "fusion_test_policy", "Nicotine"),
    ("microscope with a discectomy", "fusion_test_policy", "Operating microscope"),
])
def test_search_puts_the_right_passage_first(test_library, query, document, section):
    top = policy_library.search(query, k=5)[0]
    assert (top.document_id, top.section) == (test_library[document].pk, section), top


def test_search_passages_cite_document_version_and_section(test_library):
    passage = policy_library.search("pinched nerve in the neck injection", k=1)[0]
    document = test_library["esi_test_policy"]
    assert (passage.document_title, passage.identifier, passage.version) == ("Test ESI Policy", "T-ESI", 1)
    assert document.text[passage.char_start:passage.char_end] == passage.text
    assert passage.url == f"/policies/{document.pk}/?chunk={passage.chunk_id}#chunk-{passage.ordinal}"
    assert passage.score > 0 and (passage.vector_rank or passage.text_rank)


def test_search_can_be_kept_to_some_documents_or_one_payer_scope(test_library):
    from billing.policy_models import PolicyDocument

    facet = test_library["facet_test_policy"]
    only = policy_library.search("pinched nerve injection", k=5, document_ids=[facet.pk])
    assert only and {p.document_id for p in only} == {facet.pk}
    PolicyDocument.objects.filter(pk=facet.pk).update(payer_type="commercial")
    medicare = policy_library.search("radiofrequency ablation limits", k=10, payer_type="medicare")
    assert facet.pk not in {p.document_id for p in medicare}
    assert policy_library.search("   ") == []


def test_the_payer_scope_choices_are_the_practices_payer_types():
    from billing.models import PAYER_SCOPES
    from patients.models import PayerType

    assert {value for value, _ in PAYER_SCOPES} - {""} == set(PayerType.values)


# --- seed documents and coverage seed ----------------------------------------------------------------------


@pytest.mark.django_db
def test_load_policies_loads_the_seed_summaries_once(world):
    from billing.policy_models import PolicyDocument

    out = io.StringIO()
    call_command("load_policies", stdout=out)
    assert set(PolicyDocument.objects.current().values_list("identifier", flat=True)) == {
        "L39242", "L38773", "L37848", "NCCI-SPINE"}
    again = io.StringIO()
    call_command("load_policies", stdout=again)
    assert again.getvalue().count("skipped, already loaded") == 4
    assert PolicyDocument.objects.count() == 4


def test_each_coverage_seed_passage_is_in_its_documents_section_and_its_codes_exist():
    import simple_icd_10_cm as icd

    with (SEED / "coverage_seed.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows
    for row in rows:
        path = SEED / "policies" / row["document"]
        extracted = extract(path.name, path.read_bytes())
        assert extracted.metadata["identifier"] == row["policy_id"]
        section_text = " ".join(c.text for c in chunk_blocks(extracted.blocks) if c.section == row["section"])
        assert row["passage"] in section_text, row["policy_id"]
        assert row["status"] == "verify" and row["payer_types"] == "medicare"
        for code in row["covered_diagnoses"].split():
            assert icd.is_valid_item(code), code
        for code in row["cpt_codes"].split():
            assert all(len(part) == 5 and part.isdigit() for part in code.split("-")), code


# --- the biller's document page ----------------------------------------------------------------------------


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_the_document_page_highlights_the_cited_passage_and_scrolls_to_it(world, test_library):
    passage = policy_library.search("how many times a year can I get a back shot", k=1)[0]
    response = _client(world.biller).get(passage.url.split("#")[0])
    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="chunk-{passage.ordinal}"' in page
    cited = page.split(f'id="chunk-{passage.ordinal}"')[0].rsplit("<p", 1)[1]
    assert "cited" in cited
    assert 'autofocus' in page.split(f'id="chunk-{passage.ordinal}"')[1].split(">")[0]
    assert f"<mark>{passage.text}</mark>" in page
    assert page.count("<mark>") == 1
    assert "<h2 id=\"section-3\">Session limits</h2>" in page


@pytest.mark.parametrize(("role", "status"), [
    ("anonymous", 302), ("physician", 404), ("outsider", 200), ("biller", 200), ("admin", 200)])
def test_the_document_page_is_for_billers_and_admins_of_any_practice(world, role, status):
    from billing.tests.policy_factories import make_policy_document

    document = make_policy_document()
    client = _client(None if role == "anonymous" else world.user(role))
    assert client.get(f"/policies/{document.pk}/").status_code == status


def test_an_old_version_says_which_version_is_current(world):
    from billing.tests.policy_factories import make_policy_document

    old = make_policy_document(is_current=False)
    new = make_policy_document(version=2, supersedes=old)
    page = _client(world.biller).get(f"/policies/{old.pk}/").content.decode()
    assert "kept for audit" in page and f'href="/policies/{new.pk}/"' in page
    assert _client(world.biller).get("/policies/999999/").status_code == 404


# --- the admin ---------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(world):
    return _client(world.admin)


def test_an_admin_uploads_a_policy_and_it_is_queued_for_indexing(world, admin_client,
                                                                 django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from billing.policy_models import PolicyDocument, PolicyStatus

    path = TEST_POLICIES / "facet_test_policy.html"
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post("/admin/billing/policydocument/upload/", {
            "file": SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/html"),
            "identifier": "t-fac", "kind": "lcd", "payer_type": "medicare"})
    document = PolicyDocument.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{document.pk}/change/")
    assert (document.title, document.identifier, document.status) == ("Test Facet Policy", "T-FAC",
                                                                      PolicyStatus.PROCESSING)
    assert document.uploaded_by == world.admin
    assert len(callbacks) == 1
    assert admin_client.get("/admin/billing/policydocument/").status_code == 200
    assert admin_client.get(f"/admin/billing/policydocument/{document.pk}/change/").status_code == 200
    assert admin_client.get("/admin/billing/policydocument/add/")["Location"].endswith("/upload/")


def test_the_admin_upload_form_shows_why_a_file_is_refused(world, admin_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from billing.policy_models import PolicyDocument

    response = admin_client.post("/admin/billing/policydocument/upload/", {
        "file": SimpleUploadedFile("scan.pdf", _scanned_pdf(), content_type="application/pdf")})
    assert response.status_code == 400
    assert "has no text layer" in response.content.decode()
    assert not PolicyDocument.objects.exists()


def test_the_admin_search_shows_the_top_passages_and_the_list_counts_them(world, admin_client, test_library):
    page = admin_client.get("/admin/billing/policydocument/search/",
                            {"q": "how many times a year can I get a back shot"}).content.decode()
    assert "Session limits" in page and "rolling 12 months" in page
    assert "Also searched for" in page
    listing = admin_client.get("/admin/billing/policydocument/").content.decode()
    assert "T-ESI" in listing


def test_people_who_are_not_practice_admins_cannot_reach_the_policy_admin(world):
    for role in ("biller", "physician", "outsider"):
        response = _client(world.user(role)).get("/admin/billing/policydocument/upload/")
        assert response.status_code == 302 and "/login/" in response["Location"]
