"""Shared fixtures: two practices, a user of each role, an outsider, and patients carrying the PHI canary."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from billy.testing.pytest_plugin import PHI_CANARY


@dataclass
class World:
    practice: object
    other_practice: object
    physician: object
    biller: object
    admin: object
    outsider: object  # a biller of the other practice: signed in, but no role here
    patient: object
    other_patient: object
    payer: object  # Medicare, in the first practice
    coverage: object  # the patient's primary coverage with it
    recording: object  # a one-second dictation by the physician for the patient (a tone, stored encrypted)

    def user(self, role: str):
        return getattr(self, role)


TOTP_SECRET = "JBSWY3DPEHPK3PXP"


def make_world() -> World:
    from allauth.mfa.totp.internal.auth import TOTP

    from billy import services
    from billy.models import Role
    from patients.models import Payer, PayerType
    from patients.services import CoverageInput, coverage_add, patient_create

    practice = services.practice_create(name="North Spine Associates")
    other = services.practice_create(name="Lakeside Pain Center")
    users = {}
    for role in (Role.PHYSICIAN, Role.BILLER, Role.ADMIN):
        user = services.user_create(email=f"{role.value}@north.test", full_name=f"Test {role.label}",
                                    password="correct horse battery")
        services.membership_grant(user=user, practice=practice, role=role)
        users[role.value] = user
    TOTP.activate(users["admin"], TOTP_SECRET)
    outsider = services.user_create(email="biller@lakeside.test", full_name="Lake Biller",
                                    password="correct horse battery")
    outsider_membership = services.membership_grant(user=outsider, practice=other, role=Role.BILLER)
    biller_membership = users["biller"].memberships.get()
    patient = patient_create(membership=biller_membership, family_name=PHI_CANARY, given_name="Alma",
                             birth_date=dt.date(1956, 3, 2), sex="F", mrn="MRN-778812")
    other_patient = patient_create(membership=outsider_membership, family_name=f"{PHI_CANARY}son", given_name="Bert",
                                   birth_date=dt.date(1961, 7, 14), sex="M", mrn="LK-1001")
    payer = Payer.objects.create(practice=practice, name="Medicare Part B (test MAC)", payer_id="15202",
                                 payer_type=PayerType.MEDICARE)
    coverage = coverage_add(membership=biller_membership, patient=patient, data=CoverageInput(
        payer_id=payer.pk, order=1, member_id="1EG4TE5MK73", effective_from=dt.date(2021, 4, 1)))
    recording = _tone_recording(practice=practice, patient=patient, physician=users["physician"])
    return World(practice=practice, other_practice=other, outsider=outsider, patient=patient,
                 other_patient=other_patient, payer=payer, coverage=coverage, recording=recording, **users)


def _tone_recording(*, practice, patient, physician):
    import hashlib
    import io
    import math
    import struct
    import uuid
    import wave

    from django.core.files.base import ContentFile

    from audio.models import Recording

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8000 * 2 * math.pi * 440)))
                                 for i in range(8000)))
    data = buffer.getvalue()
    recording = Recording(uuid=uuid.uuid4(), practice=practice, patient=patient, physician=physician,
                          date_of_service=dt.date(2026, 5, 4), sha256=hashlib.sha256(data).hexdigest(),
                          size_bytes=len(data), format_label="WAV", codec="pcm_s16le", duration_s=1.0)
    recording.audio.save("tone.audio", ContentFile(data), save=False)
    recording.save()
    return recording


@pytest.fixture
def world(db) -> World:
    return make_world()


@pytest.fixture
def transactional_world(transactional_db) -> World:
    return make_world()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's chromium, headless, with nothing that reaches outside the machine."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "headless": True,
        # A fake microphone (a steady tone) and no permission prompt, for the in-browser recorder.
        "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
    }


@pytest.fixture(scope="session")
def fhir_base_url():
    """One local FHIR R4 server (integrations.fhir_testing, in memory) for the whole run: tests make names and
    identifiers of their own."""
    from integrations.fhir_testing import fhir_server

    with fhir_server() as base_url:
        yield base_url
