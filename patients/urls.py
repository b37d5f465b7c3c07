from django.urls import path

from patients import views

urlpatterns = [
    path("", views.patient_search, name="patient_search"),
    path("new/", views.patient_new, name="patient_new"),
    path("<int:patient_id>/", views.patient_detail, name="patient_detail"),
]
