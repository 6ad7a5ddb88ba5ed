from django.urls import re_path

from migrator_dashboard.common.urls import UUID
from migrator_dashboard.panels.hosts import views

HOST = r'(?P<host>[^/]+)'

urlpatterns = [
    re_path(r'^$', views.IndexView.as_view(), name='index'),
    re_path(rf'^{HOST}/drain/$', views.DrainView.as_view(), name='drain'),
    re_path(rf'^{HOST}/undrain/$', views.UndrainView.as_view(), name='undrain'),
    re_path(rf'^drains/(?P<drain_id>{UUID})/$', views.DrainDetailView.as_view(),
            name='drain_detail'),
]
