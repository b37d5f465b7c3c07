"""A real django-q2 cluster picks tasks off the ORM broker, in the right cluster."""

import pytest
from django_q.models import OrmQ, Task
from django_q.tasks import async_task

from billy.audit import audit_record
from billy.testing.processes import running_cluster, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_the_default_cluster_runs_the_audit_verification_task():
    event = audit_record(action="test.event")
    task_id = async_task("billy.tasks.audit_chain_verify", task_name="audit-verify-test")
    with running_cluster("default"):
        task = wait_for(lambda: Task.objects.filter(id=task_id).first(), timeout=60)
    assert task.success, task.result
    assert task.result["ok"] is True
    assert task.result["head"] == f"{event.sequence}:{event.entry_hash}"
    assert not OrmQ.objects.exists()


def test_a_task_for_the_inference_cluster_waits_for_that_cluster():
    task_id = async_task("billy.tasks.audit_chain_verify", cluster="inference")
    assert OrmQ.objects.filter(key="inference").count() == 1
    with running_cluster("default"):
        # The default cluster must leave it alone...
        import time

        time.sleep(3)
        assert not Task.objects.filter(id=task_id).exists()
    with running_cluster("inference"):
        task = wait_for(lambda: Task.objects.filter(id=task_id).first(), timeout=60)
    assert task.success and task.result["ok"] is True
