from django.db import migrations, models


def fill(apps, schema_editor):
    from billing.code_search import reference_codes_reload

    reference_codes_reload(using=schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql="""
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
            CREATE TABLE billing_reference_code (
                code varchar(8) PRIMARY KEY,
                system varchar(3) NOT NULL CHECK (system IN ('icd', 'cpt')),
                description text NOT NULL,
                add_on boolean NOT NULL DEFAULT false
            );
            CREATE INDEX billing_reference_code_description_trgm
                ON billing_reference_code USING gin (lower(description) gin_trgm_ops);
            CREATE INDEX billing_reference_code_system_code ON billing_reference_code (system, code varchar_pattern_ops);
            """,
            reverse_sql="DROP TABLE billing_reference_code;",
        ),
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.CreateModel(
                name="ReferenceCode",
                fields=[
                    ("system", models.CharField(
                        choices=[("icd", "ICD-10-CM"), ("cpt", "CPT/HCPCS")], max_length=3)),
                    ("code", models.CharField(
                        max_length=8, primary_key=True, serialize=False)),
                    ("description", models.TextField()),
                    ("add_on", models.BooleanField(default=False)),
                ],
                options={"db_table": "billing_reference_code", "ordering": ["code"], "managed": False},
            ),
        ]),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
