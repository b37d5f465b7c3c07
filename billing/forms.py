from django import forms

from billing import fees
from billing.models import FeeScheduleEntry

# ~60,000 lines of this CSV: far more than any fee schedule, small enough to read into memory.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024


class FeeScheduleFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=60, label="Code or words",
                        widget=forms.TextInput(attrs={"placeholder": "226, 63047, kyphoplasty…", "autocomplete": "off",
                                                      "type": "search"}))
    past = forms.BooleanField(required=False, label="Show ended charges too")


class FeeScheduleImportForm(forms.Form):
    file = forms.FileField(label="CSV file", widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}))
    replace = forms.TypedChoiceField(
        label="How the file meets the charges already here",
        choices=[
            ("add", "Add: for each code in the file, its charges take over from their first date; "
                    "other codes are untouched"),
            ("replace", "Replace: from the file's earliest date on, the schedule is exactly this file; "
                        "charges for earlier dates of service are kept"),
        ],
        coerce=lambda value: value == "replace",
        initial="add",
        widget=forms.RadioSelect,
    )

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 1024 / 1024:.1f} MB; a fee schedule CSV is at most "
                f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB. Is it the right file?")
        return upload.read()


class FeeScheduleEntryAdminForm(forms.ModelForm):
    """One entry edited in the admin gets the same checks as a line of an imported file."""

    class Meta:
        model = FeeScheduleEntry
        fields = ("practice", "code", "modifier", "charge", "effective_from", "effective_to")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        row, problems = fees.check_values(
            code=data.get("code") or "", modifier=data.get("modifier") or "", charge=str(data["charge"]),
            effective_from=data["effective_from"].isoformat(),
            effective_to=data["effective_to"].isoformat() if data.get("effective_to") else "",
        )
        if problems:
            raise forms.ValidationError([problem[0].upper() + problem[1:] for problem in problems])
        # Stored as the import stores them (upper case), so the lookup finds them.
        data.update(code=row.code, modifier=row.modifier)
        return data
