"""What each role may do, as Django model permissions held by one group per role.

Roles are held per practice (Membership.role); the groups carry the model permissions of every role a
user holds somewhere, and selectors scope each query to the practices where the user holds the role.
Per-object exceptions (an outside auditor granted one claim) go through django-guardian.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from billy.models import Role

# app_label.codename. Codenames of models that do not exist yet are skipped until their app adds them.
ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.PHYSICIAN: [
        "patients.view_patient",
        "audio.add_recording", "audio.view_recording", "audio.change_transcript",
        "claims.view_claim",
    ],
    Role.BILLER: [
        "patients.view_patient", "patients.add_patient", "patients.change_patient",
        "patients.view_coverage", "patients.add_coverage", "patients.change_coverage", "patients.view_payer",
        "billy.view_provider", "billy.view_facility", "billy.view_edisettings",
        "billing.view_feescheduleentry", "billing.add_feescheduleentry", "billing.change_feescheduleentry",
        "audio.view_recording",
        "claims.view_claim", "claims.change_claim",
    ],
    Role.ADMIN: [
        # New people join through the Team page's invitation, so admins do not add users in the admin.
        "billy.view_user", "billy.change_user",
        "billy.view_membership", "billy.add_membership", "billy.change_membership",
        "billy.view_practice", "billy.change_practice",
        "billy.view_auditevent", "billy.view_usersession", "billy.delete_usersession",
        "patients.view_patient", "patients.add_patient", "patients.change_patient",
        "patients.view_coverage", "patients.view_payer", "patients.add_payer", "patients.change_payer",
        "billy.view_provider", "billy.add_provider", "billy.change_provider",
        "billy.view_facility", "billy.add_facility", "billy.change_facility",
        "billy.view_edisettings", "billy.add_edisettings", "billy.change_edisettings",
        "billing.view_feescheduleentry", "billing.add_feescheduleentry", "billing.change_feescheduleentry",
        "billing.delete_feescheduleentry",
        "audio.view_recording", "audio.view_transcript", "audio.view_transcriptsignature",
        "audio.view_practicespeechsettings",
        "audio.add_practicespeechsettings", "audio.change_practicespeechsettings",
        "claims.view_claim", "claims.view_claimexport", "claims.view_acknowledgement",
        "claims.view_controlnumbercounter",
        # Scrubbing reference data is one set for the whole installation (CMS's tables, payers' rules, policies):
        # a practice admin keeps it, every change kept in its history. Deleting is for superusers.
        *(f"billing.{action}_{model}" for model in ("ncciedit", "mue", "payerrule", "modifiermap", "coveragepolicy",
                                                     "policydocument") for action in ("view", "add", "change")),
        "billing.view_policychunk",
        # A practice's EMR connections: its admin sets them up, tests them, and turns them off (never deletes: the
        # patients synced from one keep pointing at it).
        "integrations.view_emrconnection", "integrations.add_emrconnection", "integrations.change_emrconnection",
        "integrations.view_emrdocument", "integrations.change_emrdocument",
    ],
}


def group_name(role: Role | str) -> str:
    return f"role:{Role(role).value}"


def roles_sync() -> None:
    """Create each role's group and give it exactly its permissions (idempotent)."""
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name(role))
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".", 1)
            wanted.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)
