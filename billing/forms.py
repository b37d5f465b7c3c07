from django import forms

from billing import fees
from billing.models import CoveragePolicy, FeeScheduleEntry, PayerRule, split_payer_ids

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



# --- scrubbing reference data in the admin ------------------------------------------------------------------

class PayerRuleAdminForm(forms.ModelForm):
    """A payer rule is compiled as it is saved: an unknown code, key or placeholder is a form error, never a
    rule that silently never fires."""

    class Meta:
        model = PayerRule
        fields = ("rule_id", "name", "active", "severity", "payer_type", "payer_ids", "effective", "ends", "when",
                  "message", "fix", "source_title", "source_section", "source_passage")

    def clean(self):
        from billing import payer_rules

        data = super().clean()
        if self.errors:
            return data
        try:
            payer_rules.compile_rule(
                rule_id=data["rule_id"], when=data["when"], severity=data["severity"], message=data["message"],
                fix=data.get("fix", ""), payer_types=[data["payer_type"]] if data.get("payer_type") else [],
                payer_ids=split_payer_ids(data.get("payer_ids", "")),
                effective=data.get("effective"), ends=data.get("ends"), source_title=data.get("source_title", ""),
                source_passage=data.get("source_passage", ""), source_section=data.get("source_section", ""))
        except payer_rules.RuleError as exc:
            field = "when" if str(exc).startswith("when") else None
            self.add_error(field, str(exc))
        return data


class CoveragePolicyAdminForm(forms.ModelForm):
    """Every procedure code and ICD-10-CM pattern of a policy must exist: a typo would leave a service unchecked."""

    class Meta:
        model = CoveragePolicy
        fields = ("policy_id", "title", "active", "payer_type", "payer_ids", "effective", "ends", "cpt_codes",
                  "covered_diagnoses", "document_title", "section", "passage")

    def clean_cpt_codes(self):
        from billing import payer_rules

        return self._codes("cpt_codes", payer_rules.parse_codes, "procedure codes")

    def clean_covered_diagnoses(self):
        from billing import payer_rules

        return self._codes("covered_diagnoses", payer_rules.parse_diagnosis_patterns, "covered ICD-10-CM")

    def _codes(self, field: str, parse, label: str) -> str:
        """The field's codes, checked by `parse` (billing.payer_rules) and kept space separated."""
        from billing import payer_rules

        codes = self.cleaned_data[field].replace(",", " ").split()
        try:
            parse(codes, label)
        except payer_rules.RuleError as exc:
            raise forms.ValidationError(str(exc)) from None
        return " ".join(codes)
