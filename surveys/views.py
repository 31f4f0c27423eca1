"""The survey page behind the emailed link: a plain HTML form (no JavaScript), CSRF-protected.

It records through surveys.services.rate_conversation, as the widget does, so a second
answer from either place is refused and the page says the chat was rated already.
"""

from django.core import signing
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_http_methods

from conversations.models import Conversation
from surveys import mailing, services
from surveys.forms import SurveyForm
from surveys.models import SurveyResponse, TranscriptRequest


@require_http_methods(["GET", "POST"])
def survey_page(request, token: str):
    try:
        public_id = mailing.conversation_public_id(token)
        conversation = Conversation.objects.select_related("site").get(public_id=public_id)
    except (signing.BadSignature, Conversation.DoesNotExist, ValueError):
        conversation = None
    # Only an ended chat is surveyed: a link to one still open was never sent, so it is no link at all.
    if conversation is None or conversation.status not in services.RATED_STATUSES:
        return render(request, "surveys/survey.html", {"state": "invalid"}, status=404)
    # The page speaks the visitor's language (the one they chatted in), whatever the mail client's.
    with translation.override(mailing.visitor_language(conversation)):
        return _survey(request, conversation)


def _survey(request, conversation: Conversation):
    site = conversation.site
    if SurveyResponse.objects.filter(conversation=conversation).exists():
        return render(request, "surveys/survey.html", {"state": "answered", "site": site})
    form = SurveyForm(request.POST if request.method == "POST" else None, site=site)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.rate_conversation(
                conversation_id=conversation.pk, channel=SurveyResponse.Channel.EMAIL, csat=data["csat"],
                comment=data["comment"], nps=data.get("nps"), ces=data.get("ces"),
            )
        except services.AlreadyRated:
            return render(request, "surveys/survey.html", {"state": "answered", "site": site})
        return render(request, "surveys/survey.html", {"state": "thanks", "site": site})
    return render(request, "surveys/survey.html", {"state": "form", "site": site, "form": form},
                  status=400 if form.is_bound else 200)


@require_http_methods(["GET", "POST"])
def transcript_confirmation(request, token: str):
    """The link in a transcript confirmation email: GET asks, POST sends (a mail scanner that
    follows links sends nothing). The page speaks the language the visitor chatted in."""
    try:
        transcript = TranscriptRequest.objects.select_related("conversation__site").get(
            pk=mailing.transcript_request_id(token), needs_confirmation=True)
    except (signing.BadSignature, TranscriptRequest.DoesNotExist):
        return render(request, "surveys/transcript_confirmation.html", {"state": "invalid"}, status=404)
    context = {"site": transcript.conversation.site, "email": transcript.email}
    with translation.override(transcript.language):
        if request.method == "POST" or transcript.confirmed_at is not None:
            services.confirm_transcript(transcript_request_id=transcript.pk)
            return render(request, "surveys/transcript_confirmation.html", {"state": "sent", **context})
        return render(request, "surveys/transcript_confirmation.html", {"state": "confirm", **context})
