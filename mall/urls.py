from django.contrib import admin
from django.urls import include, path

from mall import views

urlpatterns = [
    path("healthz/", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("mall.api_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
