from django.db import migrations

SCHEDULES = [
    # (name, function, schedule type, minutes)
    ("Verify the audit chain", "billy.tasks.audit_chain_verify", "D", None),
    ("Purge expired sessions", "billy.tasks.sessions_purge", "H", None),
]


def create_schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, kind, minutes in SCHEDULES:
        Schedule.objects.update_or_create(name=name, defaults={"func": func, "schedule_type": kind,
                                                               "minutes": minutes, "repeats": -1})


def remove_schedules(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("billy", "0002_remove_guardian_anonymous_user"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create_schedules, remove_schedules)]
