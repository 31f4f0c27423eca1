from django import forms
from django.utils.translation import gettext_lazy as _

from conversations.models import Site
from surveys.models import CES_RANGE, CSAT_RANGE, MAX_COMMENT_CHARS, NPS_RANGE


def _scale(bounds: tuple[int, int]) -> list[tuple[int, str]]:
    return [(n, str(n)) for n in range(bounds[0], bounds[1] + 1)]


class SurveyForm(forms.Form):
    """The emailed survey page: CSAT always, NPS and CES when the site asks; all but CSAT optional."""

    csat = forms.TypedChoiceField(label=_("How satisfied are you with the chat?"), choices=_scale(CSAT_RANGE),
                                  coerce=int, widget=forms.RadioSelect)
    nps = forms.TypedChoiceField(label=_("How likely are you to recommend us to a friend or colleague?"),
                                 choices=_scale(NPS_RANGE), coerce=int, required=False, empty_value=None,
                                 widget=forms.RadioSelect)
    ces = forms.TypedChoiceField(label=_("It was easy to get my issue solved."), choices=_scale(CES_RANGE),
                                 coerce=int, required=False, empty_value=None, widget=forms.RadioSelect)
    comment = forms.CharField(label=_("Anything else you want to tell us? (optional)"), required=False,
                              max_length=MAX_COMMENT_CHARS, widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, site: Site, **kwargs):
        super().__init__(*args, **kwargs)
        if not site.ask_nps:
            del self.fields["nps"]
        if not site.ask_ces:
            del self.fields["ces"]
