from django.urls import path

from reporting import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
