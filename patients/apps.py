from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = "Patients"

    def ready(self):
        from billy.phi import register_blind_indexes
        from patients.services import coverage_blind_indexes, patient_blind_indexes

        register_blind_indexes("patients.Patient", patient_blind_indexes)
        register_blind_indexes("patients.Coverage", coverage_blind_indexes)
