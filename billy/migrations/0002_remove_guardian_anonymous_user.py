from django.db import migrations


def remove_anonymous_user(apps, schema_editor):
    # Early development databases got a "AnonymousUser" row from django-guardian before
    # ANONYMOUS_USER_NAME = None was set. It can sign in to nothing; remove it.
    apps.get_model("billy", "User").objects.filter(email="AnonymousUser", password__startswith="!").delete()


class Migration(migrations.Migration):
    dependencies = [("billy", "0001_initial")]
    operations = [migrations.RunPython(remove_anonymous_user, migrations.RunPython.noop)]
