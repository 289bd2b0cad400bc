from django.contrib import admin
from django.urls import include, path

from api import views as api_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v1/models", api_views.ModelListView.as_view()),
    path("v1/models/<str:model_id>", api_views.ModelDetailView.as_view()),
    path("v1/health", api_views.HealthView.as_view()),
    path("", include("generation.urls")),
    path("", include("videos.urls")),
]
