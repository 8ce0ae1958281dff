from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from attempts.apis import auth
from attempts.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/token/", auth.LoginView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", auth.RefreshView.as_view(), name="token_refresh"),
    path("api/exam/timer/", include("attempts.apis.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz", healthz, name="healthz"),
]
