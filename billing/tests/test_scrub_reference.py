"""The scrub tables in PostgreSQL: the seed every database starts with, CMS file imports (COPY through a staging
table, all or nothing, idempotent), and the rows one claim is scrubbed against (admin, then CMS, then seed)."""

from __future__ import annotations

import datetime as dt
import io
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from billing import scrub
from billing.cms_files import CmsFileError
from billing.models import MUE, EditOrigin, ModifierMap, NCCIEdit
from billing.scrub_reference import edit_tables_for, import_mue_file, import_ptp_files, load_seed

SAMPLES = Path(__file__).parent / "cms_samples"
PTP_TXT = SAMPLES / "ptp_practitioner_sample.txt"
PTP_CSV = SAMPLES / "ptp_practitioner_sample.csv"
MUE_CSV = SAMPLES / "mue_practitioner_sample.csv"
DOS = dt.date(2026, 11, 2)

pytestmark = pytest.mark.django_db


def cms_pairs() -> list[tuple]:
    return sorted(NCCIEdit.objects.filter(origin=EditOrigin.CMS)
                  .values_list("column1", "column2", "effective", "deleted", "modifier_indicator"))


def test_every_database_starts_with_the_spine_seed_from_the_migration():
    seed = NCCIEdit.objects.filter(origin=EditOrigin.SEED)
    assert seed.filter(column1="22630", column2="63047", modifier_indicator=1).exists()
    assert seed.filter(column1="63030", column2="69990", modifier_indicator=0).exists()
    assert MUE.objects.get(code="63030", origin=EditOrigin.SEED).units == 1
    assert ModifierMap.objects.get(payer_type="medicare", origin=EditOrigin.SEED).distinct_modifier == "X"


def test_loading_the_seed_again_replaces_seed_rows_and_keeps_admin_rows():
    NCCIEdit.objects.create(column1="22612", column2="22614", modifier_indicator=1, effective=dt.date(2020, 1, 1),
                            origin=EditOrigin.ADMIN, source="payer letter")
    before = NCCIEdit.objects.filter(origin=EditOrigin.SEED).count()
    counts = load_seed()
    assert counts["ncci"] == before == NCCIEdit.objects.filter(origin=EditOrigin.SEED).count()
    assert NCCIEdit.objects.filter(origin=EditOrigin.ADMIN, column1="22612").count() == 1


def test_the_ptp_import_loads_every_edit_of_the_file_with_its_dates_and_indicator():
    result = import_ptp_files([PTP_TXT], quarter="2026 Q4")
    assert result.rows == NCCIEdit.objects.filter(origin=EditOrigin.CMS).count() == 7
    edit = NCCIEdit.objects.get(origin=EditOrigin.CMS, column1="22630", column2="63047")
    assert (edit.effective, edit.deleted, edit.modifier_indicator) == (dt.date(2010, 1, 1), None, 1)
    assert edit.source == "ptp_practitioner_sample.txt (2026 Q4)"
    assert edit.rationale == "Standards of medical / surgical practice"


def test_importing_the_same_file_twice_gives_the_same_table():
    import_ptp_files([PTP_TXT])
    first = cms_pairs()
    again = import_ptp_files([PTP_TXT])
    assert cms_pairs() == first
    assert again.replaced == again.rows == len(first)


def test_the_quarters_parts_load_together_and_the_csv_layout_reads_like_the_text():
    import_ptp_files([PTP_TXT])
    from_text = cms_pairs()
    import_ptp_files([PTP_CSV])
    assert cms_pairs() == from_text
    import_ptp_files([PTP_TXT, PTP_CSV])
    assert len(cms_pairs()) == 2 * len(from_text)


def test_a_malformed_line_stops_the_import_names_the_line_and_leaves_the_table_as_it_was(tmp_path):
    import_ptp_files([PTP_TXT])
    before = cms_pairs()
    broken = tmp_path / "ccipra-f2.txt"
    lines = PTP_TXT.read_text().splitlines()
    fields = lines[9].split("\t")
    fields[3] = "20101301"  # month 13
    lines[9] = "\t".join(fields)
    broken.write_text("\n".join(lines) + "\n")
    with pytest.raises(CmsFileError) as caught:
        import_ptp_files([PTP_CSV, broken])  # the good first part is staged, then thrown away
    assert "ccipra-f2.txt" in str(caught.value) and "line 10" in str(caught.value)
    assert cms_pairs() == before


def test_the_import_command_reports_counts_and_a_bad_file_as_a_command_error(tmp_path):
    out = io.StringIO()
    call_command("import_ncci", str(PTP_TXT), "--quarter", "2026 Q4", stdout=out)
    assert out.getvalue().strip() == "7 PTP edits loaded from 1 file; 0 earlier CMS rows replaced."
    empty = tmp_path / "empty.txt"
    empty.write_text("Column 1\tColumn 2\t*\tEffective Date\tDeletion Date\tModifier\tPTP Edit Rationale\n")
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import_ncci", str(empty))
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_ncci", str(tmp_path / "missing.txt"))
    assert len(cms_pairs()) == 7


def test_the_mue_import_loads_units_and_indicators_and_refuses_a_code_listed_twice(tmp_path):
    out = io.StringIO()
    call_command("import_mue", str(MUE_CSV), stdout=out)
    assert "MUEs loaded from 1 file" in out.getvalue()
    assert MUE.objects.get(code="22552", origin=EditOrigin.CMS).units == 3
    assert MUE.objects.get(code="22552", origin=EditOrigin.CMS).adjudication_indicator == 3
    count = MUE.objects.filter(origin=EditOrigin.CMS).count()
    twice = tmp_path / "mue.csv"
    shutil.copy(MUE_CSV, twice)
    with twice.open("a") as handle:
        handle.write("22551,2,2 Date of Service Edit: Policy,Code Descriptor / CPT Instruction\n")
    with pytest.raises(CmsFileError, match="22551 is listed twice"):
        import_mue_file(twice)
    assert MUE.objects.filter(origin=EditOrigin.CMS).count() == count


def test_a_claim_is_scrubbed_against_cms_rows_over_the_seed_and_admin_rows_over_both():
    codes = ["22630", "63047"]
    seeded = edit_tables_for(codes)
    assert "IamBilly seed" in seeded.ptp_between("22630", "63047", DOS).source
    import_ptp_files([PTP_TXT], quarter="2026 Q4")
    cms = edit_tables_for(codes).ptp_between("22630", "63047", DOS)
    assert cms.source.endswith("ptp_practitioner_sample.txt (2026 Q4)")
    assert cms.reference.startswith("ncci:")
    NCCIEdit.objects.create(column1="22630", column2="63047", modifier_indicator=0, effective=dt.date(2010, 1, 1),
                            origin=EditOrigin.ADMIN, source="payer contract 2026")
    admin = edit_tables_for(codes).ptp_between("22630", "63047", DOS)
    assert admin.modifier_indicator == 0 and "entered by an admin" in admin.source


def test_only_the_edits_between_the_claims_codes_are_read():
    tables = edit_tables_for(["63030", "69990"])
    assert set(tables.ptp) == {("63030", "69990")}
    assert set(tables.mue) == {"63030", "69990"}
    lines = [scrub.ScrubLine(cpt="63030", levels=("L4-L5",)), scrub.ScrubLine(cpt="69990")]
    [finding] = scrub.scrub_lines(lines, date_of_service=DOS, tables=tables)
    assert (finding.rule, finding.lines, finding.fix) == ("NCCI-PTP", (0, 1), "Remove 69990.")
    assert finding.source_ref.startswith("ncci:")


def test_the_seed_coverage_policies_cite_the_seed_documents_once_they_are_indexed():
    from billing.models import CoveragePolicy
    from billing.policy_models import PolicyChunk

    esi = CoveragePolicy.objects.get(policy_id="L39242", origin=EditOrigin.SEED)
    assert esi.source_ref == ""  # the library is empty: nothing to cite yet
    call_command("load_policies", stdout=io.StringIO())  # indexing links them (policy_document_process)
    esi.refresh_from_db()
    kind, document_id, chunk_id = esi.source_ref.split(":")
    chunk = PolicyChunk.objects.get(pk=chunk_id)
    assert kind == "policy" and chunk.document_id == int(document_id)
    assert chunk.section == esi.section == "Covered indications" and esi.passage in chunk.text
    assert esi.document_title == chunk.document.title
    claim = scrub.ScrubClaim(lines=(scrub.ScrubLine("64483", modifiers=("RT",), dx_pointers=("A",)),),
                             date_of_service=DOS, diagnoses=("M54.50",), payer_type="medicare")
    from billing.scrub_reference import scrub_findings

    [coverage] = [f for f in scrub_findings(claim) if f.rule == "COVERAGE-DX"]
    assert (coverage.source_ref, coverage.source_title) == (esi.source_ref, chunk.document.title)
