from django.urls import path

from videos import views

urlpatterns = [
    path("v1/videos", views.VideoCollectionView.as_view()),
    path("v1/videos/generations", views.VideoGenerationsSyncView.as_view()),
    path("v1/videos/<str:video_id>", views.VideoDetailView.as_view()),
    path("v1/videos/<str:video_id>/content", views.VideoContentView.as_view()),
    path("v1/videos/<str:video_id>/remix", views.VideoRemixView.as_view()),
    path("v2/videos/generations", views.VideoTasksV2View.as_view()),
    path("v2/videos/generations/<str:task_id>", views.VideoTaskV2DetailView.as_view()),
]
