from django.urls import path

from patients import views

urlpatterns = [
    path("", views.patient_search, name="patient_search"),
    path("new/", views.patient_new, name="patient_new"),
    path("emr-import/", views.patient_emr_import, name="patient_emr_import"),
    path("<int:patient_id>/", views.patient_detail, name="patient_detail"),
    path("<int:patient_id>/edit/", views.patient_edit, name="patient_edit"),
    path("<int:patient_id>/coverages/new/", views.coverage_new, name="coverage_new"),
    path("coverages/<int:coverage_id>/edit/", views.coverage_edit, name="coverage_edit"),
    path("coverages/<int:coverage_id>/end/", views.coverage_end, name="coverage_end"),
]
