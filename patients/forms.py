from django import forms

from patients.models import Sex


class PatientSearchForm(forms.Form):
    family_name = forms.CharField(required=False, max_length=100, label="Family name")
    given_name = forms.CharField(required=False, max_length=100, label="Given name (first letter is enough)")
    birth_date = forms.DateField(required=False, label="Birth date", widget=forms.DateInput(attrs={"type": "date"}))
    mrn = forms.CharField(required=False, max_length=64, label="MRN")

    def clean(self):
        data = super().clean()
        by_name = data.get("family_name") and data.get("given_name") and data.get("birth_date")
        if not data.get("mrn") and not by_name:
            raise forms.ValidationError("Search by MRN, or by family name, first initial and birth date.")
        return data


class PatientForm(forms.Form):
    family_name = forms.CharField(max_length=100)
    given_name = forms.CharField(max_length=100)
    birth_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    sex = forms.ChoiceField(choices=Sex.choices)
    mrn = forms.CharField(required=False, max_length=64, label="MRN")
