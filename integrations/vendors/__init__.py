"""Vendor profiles: one module per EMR, each the same shape (a `Adapter` subclass of FhirAdapter with the
vendor's authentication, base URL defaults and quirks, and `UNCONFIRMED`: what its public documentation, as far
as we could read it, did not settle). `adapter_class(vendor)` picks one."""

from __future__ import annotations

from integrations.vendors import athenahealth, curemd, epic, fhir_server

PROFILES = {module.Adapter.vendor: module for module in (fhir_server, epic, athenahealth, curemd)}


def adapter_class(vendor: str):
    try:
        return PROFILES[vendor].Adapter
    except KeyError:
        raise ValueError(f"unknown EMR vendor {vendor!r}") from None
