from django.urls import path

from tokens import service_views, views

urlpatterns = [
    path("refresh/", views.RefreshView.as_view(), name="refresh"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("logout/all/", views.LogoutAllView.as_view(), name="logout-all"),
    path("sessions/", views.SessionListView.as_view(), name="sessions"),
    path("sessions/<uuid:session_id>/", views.SessionDetailView.as_view(), name="session-detail"),
    path("devices/", views.DeviceListView.as_view(), name="devices"),
    path("devices/<uuid:device_id>/", views.DeviceDetailView.as_view(), name="device-detail"),
    path("csrf/", views.CsrfView.as_view(), name="csrf"),
    path("introspect/", service_views.for_services(service_views.IntrospectView.as_view()), name="introspect"),
    path("revocations/", service_views.for_services(service_views.RevocationFeedView.as_view()), name="revocations"),
]
