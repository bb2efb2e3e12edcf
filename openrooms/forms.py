"""Form helpers shared by the web UI of every app."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from openrooms.input_checks import validate_day, validate_text


def add_service_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Puts a service's ValidationError on the form: under its field when the form has that
    field, at the top of the form otherwise, so no message is ever lost."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        on_form = field in form.fields and field != NON_FIELD_ERRORS
        form.add_error(field if on_form else None, errors)


class TextChecks(forms.BaseForm):
    """Refuses control characters in every text field of the form, each with its field error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.CharField):
                field.validators.append(validate_text)
            if isinstance(field, forms.DateField):
                field.validators.append(validate_day)
