from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from mall.models import Member


@admin.register(Member)
class MemberAdmin(UserAdmin):
    list_display = ("username", "nickname", "phone", "tier", "external_id", "is_staff", "date_joined")
    list_filter = ("tier", "is_staff", "is_active")
    search_fields = ("username", "nickname", "phone", "external_id", "email")
    readonly_fields = ("last_login", "date_joined", "last_active_at")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Profile"), {"fields": ("nickname", "phone", "email", "tier", "external_id")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Activity"), {"fields": ("last_login", "date_joined", "last_active_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "phone", "nickname", "password1", "password2")}),
    )
