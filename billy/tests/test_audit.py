"""The audit trail is a hash chain: edits, deletions and truncation are detected and named."""

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from billy.audit import GENESIS_HASH, audit_record, verify_audit_table
from billy.models import AuditEvent

pytestmark = pytest.mark.django_db


def write_events(n=5):
    return [audit_record(action="test.event", object_type="thing", object_id=i, detail={"n": i}) for i in range(n)]


def run_sql_bypassing_the_append_only_trigger(sql, params=()):
    """What someone with database superuser rights could do: switch triggers off and change rows."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = origin")


def test_entries_chain_onto_each_other_from_the_genesis_hash():
    events = write_events(3)
    base = events[0].sequence
    assert [e.sequence for e in events] == [base, base + 1, base + 2]
    assert events[1].previous_hash == events[0].entry_hash
    assert AuditEvent.objects.get(sequence=1).previous_hash == GENESIS_HASH
    report = verify_audit_table()
    assert report.ok and report.head_sequence == events[-1].sequence and report.head_hash == events[-1].entry_hash


def test_the_database_refuses_updates_and_deletes_of_audit_rows():
    event = write_events(1)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_an_edited_row_is_named():
    events = write_events(5)
    run_sql_bypassing_the_append_only_trigger(
        "UPDATE billy_auditevent SET actor_email = 'someone-else@x.test' WHERE id = %s", [events[2].pk])
    report = verify_audit_table()
    assert not report.ok
    assert f"entry #{events[2].sequence} was altered after it was written" in report.problems


def test_a_deleted_row_in_the_middle_is_named():
    events = write_events(5)
    run_sql_bypassing_the_append_only_trigger("DELETE FROM billy_auditevent WHERE id = %s", [events[1].pk])
    report = verify_audit_table()
    assert not report.ok
    assert any(f"entry #{events[1].sequence} is missing" in p for p in report.problems)
    assert any(f"entry #{events[2].sequence} does not link" in p for p in report.problems)


def test_deleting_the_newest_rows_is_caught_with_a_head_noted_earlier():
    events = write_events(5)
    head = (events[-1].sequence, events[-1].entry_hash)
    run_sql_bypassing_the_append_only_trigger("DELETE FROM billy_auditevent WHERE sequence >= %s", [events[3].sequence])
    assert verify_audit_table().ok  # the rest is still a consistent chain...
    report = verify_audit_table(expect_head=head)  # ...but not the one noted earlier
    assert not report.ok
    assert any(f"entry #{head[0]} noted earlier is gone" in p for p in report.problems)


def test_truncating_the_table_and_forging_a_new_chain_fails_without_the_key():
    events = write_events(3)
    head = (events[-1].sequence, events[-1].entry_hash)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE billy_auditevent")
    report = verify_audit_table(expect_head=head)
    assert not report.ok and report.count == 0


def test_verify_audit_command_prints_the_head_and_fails_on_tampering(capsys):
    events = write_events(3)
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert f"Head: {events[-1].sequence}:{events[-1].entry_hash}" in out
    run_sql_bypassing_the_append_only_trigger(
        "UPDATE billy_auditevent SET detail = '{\"n\": 99}' WHERE id = %s", [events[0].pk])
    with pytest.raises(CommandError, match="does not verify"):
        call_command("verify_audit")
    assert f"entry #{events[0].sequence} was altered" in capsys.readouterr().err


def test_verify_audit_rejects_a_malformed_head():
    with pytest.raises(CommandError, match="--expect-head"):
        call_command("verify_audit", expect_head="abc")


def test_services_write_audit_events_for_phi_reads(world, client):
    client.force_login(world.biller)
    before = AuditEvent.objects.filter(action="patient.view").count()
    assert client.get(f"/patients/{world.patient.pk}/").status_code == 200
    event = AuditEvent.objects.filter(action="patient.view").latest("sequence")
    assert AuditEvent.objects.filter(action="patient.view").count() == before + 1
    assert (event.actor_id, event.object_type, event.object_id) == (world.biller.pk, "patients.patient",
                                                                    str(world.patient.pk))
    assert event.practice_id == world.practice.pk and event.role == "biller"
