from django import forms
from django.utils import timezone

from audio.models import RecordingSource
from audio.validation import ACCEPTED_SUFFIXES


class DictationUploadForm(forms.Form):
    date_of_service = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Date of service")
    audio = forms.FileField(label="Dictation", widget=forms.ClearableFileInput(attrs={
        "accept": ",".join(ACCEPTED_SUFFIXES) + ",audio/*"}),
        help_text="WAV, MP3, M4A, Ogg, WebM or FLAC. The file's content is checked, not its name.")

    source = forms.ChoiceField(choices=RecordingSource.choices, initial=RecordingSource.UPLOAD, required=False,
                               widget=forms.HiddenInput)

    def clean_date_of_service(self):
        day = self.cleaned_data["date_of_service"]
        if day > timezone.localdate():
            raise forms.ValidationError("The date of service is in the future.")
        return day
