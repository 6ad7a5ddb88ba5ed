from django.urls import re_path

from migrator_dashboard.common.urls import UUID
from migrator_dashboard.panels.migrations import views

urlpatterns = [
    re_path(r'^$', views.IndexView.as_view(), name='index'),
    re_path(rf'^(?P<migration_id>{UUID})/$', views.DetailView.as_view(), name='detail'),
]
