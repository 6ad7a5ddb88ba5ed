from django.urls import re_path

from migrator_dashboard.common.urls import UUID
from migrator_dashboard.panels.rebalance import views

urlpatterns = [
    re_path(r'^$', views.IndexView.as_view(), name='index'),
    re_path(r'^create/$', views.CreateView.as_view(), name='create'),
    re_path(rf'^(?P<plan_id>{UUID})/$', views.DetailView.as_view(), name='detail'),
]
