from django.urls import path

from audio import views

urlpatterns = [
    path("", views.dictation_list, name="dictation_list"),
    path("new/<int:patient_id>/", views.dictation_upload, name="dictation_upload"),
    path("<int:recording_id>/", views.dictation_detail, name="dictation_detail"),
    path("<int:recording_id>/retry/", views.dictation_retry, name="dictation_retry"),
    path("<int:recording_id>/audio/", views.dictation_audio, name="dictation_audio"),
]
