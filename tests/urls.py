"""The real URLs plus one route that crashes, to prove a 500 still gets the envelope."""

from django.urls import path
from rest_framework.views import APIView

from gateway.urls import urlpatterns as gateway_urlpatterns


class CrashView(APIView):
    def get(self, request):
        raise RuntimeError("deliberate crash with sessionid=abcdef123456")


urlpatterns = [path("v1/_test/crash", CrashView.as_view()), *gateway_urlpatterns]
