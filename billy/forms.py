from django import forms

from billy.models import Role


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email (their login)")
    full_name = forms.CharField(max_length=150, label="Full name")
    role = forms.ChoiceField(choices=Role.choices)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
