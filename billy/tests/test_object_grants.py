"""django-guardian per-object grants: an outside auditor sees exactly what was granted, nothing else."""

import pytest
from guardian.shortcuts import assign_perm, remove_perm

from billy import services
from billy.selectors import objects_granted_to
from patients.models import Patient

pytestmark = pytest.mark.django_db


def test_an_auditor_sees_only_the_objects_granted_to_them(world):
    auditor = services.user_create(email="auditor@outside.test", password="a-long-password-1")
    assert list(objects_granted_to(user=auditor, perm="patients.view_patient", queryset=Patient.objects.all())) == []
    assign_perm("patients.view_patient", auditor, world.patient)
    granted = objects_granted_to(user=auditor, perm="patients.view_patient", queryset=Patient.objects.all())
    assert [p.pk for p in granted] == [world.patient.pk]
    assert auditor.has_perm("patients.view_patient", world.patient)
    assert not auditor.has_perm("patients.view_patient", world.other_patient)
    remove_perm("patients.view_patient", auditor, world.patient)
    assert not objects_granted_to(user=auditor, perm="patients.view_patient", queryset=Patient.objects.all()).exists()


def test_a_role_permission_does_not_count_as_an_object_grant(world):
    # The biller's group holds patients.view_patient for every practice's model; per-object reads ignore it.
    assert world.biller.has_perm("patients.view_patient")
    assert not objects_granted_to(user=world.biller, perm="patients.view_patient",
                                  queryset=Patient.objects.all()).exists()
