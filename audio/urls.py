from django.urls import path

from audio import views

urlpatterns = [
    path("", views.dictation_list, name="dictation_list"),
    path("inbox/", views.signing_inbox, name="signing_inbox"),
    path("new/<int:patient_id>/", views.dictation_upload, name="dictation_upload"),
    path("<int:recording_id>/", views.dictation_detail, name="dictation_detail"),
    path("<int:recording_id>/retry/", views.dictation_retry, name="dictation_retry"),
    path("<int:recording_id>/audio/", views.dictation_audio, name="dictation_audio"),
    path("<int:recording_id>/review/", views.dictation_review, name="dictation_review"),
    path("<int:recording_id>/sign/", views.dictation_sign, name="dictation_sign"),
    path("<int:recording_id>/addendum/", views.dictation_addendum, name="dictation_addendum"),
    path("<int:recording_id>/request-addendum/", views.dictation_request_addendum, name="dictation_request_addendum"),
]
