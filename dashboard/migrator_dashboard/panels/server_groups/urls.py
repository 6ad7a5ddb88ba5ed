from django.urls import re_path

from migrator_dashboard.panels.server_groups import views

GROUP = r'(?P<group_id>[^/]+)'

urlpatterns = [
    re_path(r'^$', views.IndexView.as_view(), name='index'),
    re_path(r'^create/$', views.CreateView.as_view(), name='create'),
    re_path(rf'^{GROUP}/$', views.DetailView.as_view(), name='detail'),
    re_path(rf'^{GROUP}/add_member/$', views.AddMemberView.as_view(), name='add_member'),
]
