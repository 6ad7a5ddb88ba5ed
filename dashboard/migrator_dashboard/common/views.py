"""A modal form only an admin may open or post (a reader gets Horizon's 'not authorized')."""

from django.utils.translation import gettext_lazy as _
from horizon import exceptions, forms

from migrator_dashboard.common import roles


class AdminModalFormView(forms.ModalFormView):
    template_name = 'migrator_dashboard/modal_form.html'
    ajax_template_name = 'migrator_dashboard/_modal_form.html'
    submit_label = _('Submit')
    help_text = ''
    side_template = None
    # Where to go after a successful handle(); a callable of (view, form), or a URL.
    success_url = None

    def dispatch(self, request, *args, **kwargs):
        if not roles.can_change(request):
            raise exceptions.NotAuthorized(_('Only an admin may do this.'))
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context['help_text'] = self.help_text
        context['side_template'] = self.side_template
        context['submit_url'] = self.request.path
        return context

    def form_valid(self, form):
        self.handled_form = form
        return super().form_valid(form)

    def get_success_url(self):
        return str(self.next_url(getattr(self, 'handled_form', None)))

    def next_url(self, form):
        raise NotImplementedError
