from django.urls import path
from django.views.decorators.http import require_safe

from generation import chat_views, media, views

urlpatterns = [
    path("v1/images/generations", views.ImageGenerationsView.as_view()),
    path("v1/images/edits", views.ImageEditsView.as_view()),
    path("v1/images/compositions", views.ImageCompositionsView.as_view()),
    path("v1/chat/completions", chat_views.ChatCompletionsView.as_view()),
    path("files/<str:token>", require_safe(media.serve_signed), name="signed-file"),  # GET and HEAD
]
