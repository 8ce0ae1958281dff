from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework_simplejwt.views import TokenBlacklistView

from attempts import pages
from attempts.apis import auth
from attempts.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/token/", auth.LoginView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", auth.RefreshView.as_view(), name="token_refresh"),
    path("api/exam/timer/", include("attempts.apis.urls")),
    path("api/exam/proctor/", include("attempts.apis.staff_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz", healthz, name="healthz"),
    # Sign-out revokes the refresh token (rotation already blacklists the old ones).
    path("api/token/blacklist/", TokenBlacklistView.as_view(), name="token_blacklist"),
    # The pages: shells that the browser fills from the API and the sockets.
    path("", pages.home, name="home"),
    path("login/", pages.login_page, name="login"),
    path("exam/<int:exam_id>/", pages.exam_page, name="exam-page"),
    path("proctor/exams/<int:exam_id>/", pages.proctor_page, name="proctor-page"),
]
