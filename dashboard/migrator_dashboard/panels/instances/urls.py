from django.urls import re_path

from migrator_dashboard.panels.instances import views

urlpatterns = [
    re_path(r'^$', views.IndexView.as_view(), name='index'),
    re_path(r'^(?P<instance>[^/]+)/migrate/$', views.MigrateView.as_view(), name='migrate'),
]
