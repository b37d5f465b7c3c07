"""allauth hooks: nobody signs up on their own; admins invite people (see billy.services.user_invite)."""

from allauth.account.adapter import DefaultAccountAdapter


class InviteOnlyAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False
