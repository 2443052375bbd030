from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from authsvc.monitoring import prometheus_metrics
from authsvc.views import api_docs, healthz
from tokens.views import JwksView
from webclient.views import demo

urlpatterns = [
    # tokens first: its first pattern is refresh/, after me/ the most frequent request.
    path("api/auth/", include("tokens.urls")),
    path("api/auth/", include("accounts.urls")),
    path("api/schema/", api_docs(SpectacularAPIView.as_view()), name="schema"),
    path("api/docs/", api_docs(SpectacularSwaggerView.as_view(url_name="schema")), name="docs"),
    path(".well-known/jwks.json", JwksView.as_view(), name="jwks"),
    path("healthz", healthz, name="healthz"),
    path("metrics", prometheus_metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("", demo, name="demo"),
]

handler400 = "authsvc.exceptions.handler400"
handler403 = "authsvc.exceptions.handler403"
handler404 = "authsvc.exceptions.handler404"
handler500 = "authsvc.exceptions.handler500"
