from django.urls import path

from generation import chat_views, media, views

urlpatterns = [
    path("v1/images/generations", views.ImageGenerationsView.as_view()),
    path("v1/images/edits", views.ImageEditsView.as_view()),
    path("v1/images/compositions", views.ImageCompositionsView.as_view()),
    path("v1/chat/completions", chat_views.ChatCompletionsView.as_view()),
    path("files/<str:token>", media.serve_signed, name="signed-file"),
]
