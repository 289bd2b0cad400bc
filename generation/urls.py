from django.urls import path

from generation import media

urlpatterns = [
    path("files/<str:token>", media.serve_signed, name="signed-file"),
]
