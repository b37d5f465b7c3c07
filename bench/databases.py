"""A database of a benchmark's own: created and migrated beside the bench one, dropped at the end."""

from __future__ import annotations

import contextlib
import os

from django.db import connection


@contextlib.contextmanager
def own_database(prefix: str):
    """A fresh, migrated database (Django's test-database machinery) named `<prefix>_<pid>`; every connection of
    this process points at it meanwhile."""
    test_settings = connection.settings_dict.setdefault("TEST", {})
    old_test_name = test_settings.get("NAME")
    old_name = connection.settings_dict["NAME"]
    test_settings["NAME"] = f"{prefix}_{os.getpid()}"
    try:
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            yield
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
    finally:
        test_settings["NAME"] = old_test_name
