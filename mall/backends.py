"""The one authentication backend for members and staff: username or phone, for the pages, the
API's token endpoint and the admin alike (``AUTHENTICATION_BACKENDS``, after django-axes'
lockout check)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from common.pii import index_for


class UsernameOrPhoneBackend(ModelBackend):
    """``authenticate(request, username=..., password=...)`` where ``username`` is a username or,
    when no member has that username, a phone number. A username always wins: a member whose
    username looks like someone else's phone still signs in with it.

    The password check (and, for an unknown identifier, the hasher run that keeps the timing
    the same) is ``ModelBackend``'s. The phone is matched through its blind index
    (``phone_index``): the column itself is encrypted.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if isinstance(username, str) and username:
            Member = get_user_model()
            members = Member._default_manager
            if not members.filter(username=username).exists():
                by_phone = (members.filter(phone_index=index_for(Member, "phone", username))
                            .values_list("username", flat=True).first())
                if by_phone:
                    username = by_phone
        return super().authenticate(request, username=username, password=password, **kwargs)
