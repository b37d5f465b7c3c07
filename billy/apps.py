from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs):
    # post_migrate also runs after the flush of a transactional test, so the role groups always exist.
    from billy.roles import roles_sync

    roles_sync()


class BillyConfig(AppConfig):
    name = "billy"
    verbose_name = "IamBilly: users, practices, audit"

    def ready(self):
        from billy import keys

        # A malformed key stops every process (web, workers, commands) at start, naming the setting.
        keys.validate_all()
        post_migrate.connect(_sync_roles, dispatch_uid="billy.sync_roles")
        from billy import signals  # noqa: F401  (login/logout audit hooks)
