"""A demo practice for `make run`: two surgeons, a biller and an admin, and the practice data a claim is made of
(providers, facilities, payers, EDI settings, synthetic patients with coverage, fees: see billy/demo.py).

Passwords are random, made once per checkout and kept in .data/demo-logins.txt (mode 0600), so no
password is a default in code and a second `make run` prints the same logins.
"""

import os
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from billy import services
from billy.demo import demo_practice_data
from billy.models import Membership, Practice, Role, User

DEMO_PRACTICE = "Riverside Spine & Pain (demo)"
DEMO_USERS = [
    ("physician@demo.iambilly.local", "Dr. Maya Okafor", Role.PHYSICIAN),
    ("surgeon2@demo.iambilly.local", "Dr. Tomas Lindqvist", Role.PHYSICIAN),
    ("biller@demo.iambilly.local", "Jordan Reyes", Role.BILLER),
    ("admin@demo.iambilly.local", "Priya Shah", Role.ADMIN),
]


def _load_or_make_passwords(path) -> dict[str, str]:
    passwords: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if " " in line and not line.startswith("#"):
                email, password = line.split(" ", 1)
                passwords[email] = password
    for email, _, _ in DEMO_USERS:
        passwords.setdefault(email, secrets.token_urlsafe(12))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Demo logins for this checkout (email password)\n")
        handle.writelines(f"{email} {password}\n" for email, password in passwords.items())
    return passwords


class Command(BaseCommand):
    help = "Create (or refresh) the demo practice and its three users, and print their logins."

    @transaction.atomic
    def handle(self, *args, **options):
        passwords = _load_or_make_passwords(settings.DATA_DIR / "demo-logins.txt")
        practice = Practice.objects.filter(name=DEMO_PRACTICE).first() or services.practice_create(name=DEMO_PRACTICE)
        lines = []
        for email, full_name, role in DEMO_USERS:
            user = User.objects.filter(email=email).first() or services.user_create(email=email, full_name=full_name)
            if not user.check_password(passwords[email]):
                user.set_password(passwords[email])
                user.save(update_fields=["password"])
            if not Membership.objects.filter(user=user, practice=practice, role=role, is_active=True).exists():
                services.membership_grant(user=user, practice=practice, role=role)
            lines.append(f"  {role.label:<15} {email:<32} {passwords[email]}")
        made = demo_practice_data(practice=practice)
        self.stdout.write(f"Demo practice: {practice.name} ({made['providers']} providers, {made['facilities']} "
                          f"facilities, {made['payers']} payers, {made['patients']} patients, {made['fees']} fees)")
        self.stdout.write("\n".join(lines))
        self.stdout.write("  (the admin sets up an authenticator app at first sign-in: admins must use two-factor)")
