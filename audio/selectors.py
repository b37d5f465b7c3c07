"""Who may see which dictations: physicians their own, billers and admins the practice's."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from audio.models import Recording
from billy.models import Membership, Role


def recordings_for(*, membership: Membership) -> QuerySet[Recording]:
    recordings = Recording.objects.filter(practice_id=membership.practice_id).select_related("patient")
    if membership.role == Role.PHYSICIAN:
        recordings = recordings.filter(physician=membership.user)
    return recordings


def recording_get(*, membership: Membership, recording_id: int) -> Recording:
    """The recording if the asker may see it; 404 otherwise, so another practice's dictations stay unknown."""
    recording = recordings_for(membership=membership).filter(pk=recording_id).first()
    if recording is None:
        raise Http404
    return recording
