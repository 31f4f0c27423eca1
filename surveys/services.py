"""The writes of surveys and transcripts: a visitor's rating, a transcript request and its confirmation.

Each is a change of the conversation (an event row, written through conversations.lifecycle in one
transaction with the survey's own rows), so metrics replay ratings like every other event. The
survey email after a chat ends is scheduled by surveys/subscribers.py.
"""

from django.utils import timezone

import reactions
from conversations import events, lifecycle
from conversations.models import Conversation, Visitor
from conversations.publish import publish_on_commit, staff_group, visitor_group
from surveys.mailing import visitor_language
from surveys.models import CES_RANGE, CSAT_RANGE, MAX_COMMENT_CHARS, NPS_RANGE, SurveyResponse, TranscriptRequest

# The chats a visitor rates: those that reached an agent (abandoned chats and offline messages did not).
RATED_STATUSES = (Conversation.Status.CLOSED, Conversation.Status.MISSED)


class AlreadyRated(lifecycle.LifecycleError):
    code = "already_rated"


class InvalidRating(lifecycle.LifecycleError):
    code = "invalid_field"

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


def _check_score(field: str, value: int | None, bounds: tuple[int, int], asked: bool = True) -> None:
    if value is None:
        return
    if not asked:
        raise InvalidRating(f"this site does not ask for {field}", field=field)
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        raise InvalidRating(f"{field} must be a whole number from {bounds[0]} to {bounds[1]}", field=field)


def rate_conversation(
    *, conversation_id: int, csat: int, channel: str, comment: str = "", nps: int | None = None,
    ces: int | None = None,
):
    """Record the visitor's survey answer: the SurveyResponse row and one `rated` event.

    One answer per chat: a second, from any channel, is refused with AlreadyRated and changes
    nothing. The event holds the scores (not the comment) and `agent_id`, the agent who held the
    chat when it ended, to whom metrics attribute the rating.
    """
    comment = (comment or "").strip()
    with lifecycle.transition():
        conversation = lifecycle.lock(conversation_id)
        lifecycle.require_status(conversation, RATED_STATUSES, "rate")
        site = conversation.site
        if csat is None:
            raise InvalidRating("csat is required", field="csat")
        _check_score("csat", csat, CSAT_RANGE)
        _check_score("nps", nps, NPS_RANGE, site.ask_nps)
        _check_score("ces", ces, CES_RANGE, site.ask_ces)
        if len(comment) > MAX_COMMENT_CHARS:
            raise InvalidRating(f"comment is longer than {MAX_COMMENT_CHARS}", field="comment")
        # Under the conversation lock, so two answers cannot both pass; the one-to-one key backs it up.
        if SurveyResponse.objects.filter(conversation=conversation).exists():
            raise AlreadyRated("this chat has been rated already")
        now = timezone.now()
        response = SurveyResponse.objects.create(conversation=conversation, channel=channel, csat=csat, nps=nps,
                                                 ces=ces, comment=comment, created_at=now)
        rated = events.Rated(agent_id=conversation.assigned_agent_id, csat=csat, nps=nps, ces=ces, channel=channel,
                             commented=bool(comment))
        lifecycle.record(conversation, rated, lifecycle.Actor.visitor(), now)
        publish_on_commit([visitor_group(conversation.visitor_id), staff_group(conversation.pk)], {
            "type": "rated", "conversation_id": str(conversation.public_id), "csat": csat,
        })
    return response


def request_transcript(*, conversation_id: int, request_id: str, email: str = ""):
    """The visitor asks for the chat's transcript by email; returns (request, created).

    A resend with the same request id returns the first request and sends nothing more. Without an
    `email`, or with the one the visitor chatted with, the transcript is emailed (a visitor without
    one gets `email_required`). Any other address first gets a confirmation email: the transcript
    follows only once someone there confirms (confirm_transcript), so a stranger's address receives
    at most that one fixed email. Both go out from reactions written in this transaction
    (surveys/reactions.py); how many a visitor may ask for is limited at the socket (realtime/limits.py).
    """
    with lifecycle.transition():
        conversation = lifecycle.lock(conversation_id)
        if conversation.status == Conversation.Status.OFFLINE:
            raise lifecycle.IllegalTransition("an offline message has no chat transcript")
        earlier = TranscriptRequest.objects.filter(conversation=conversation, request_id=request_id).first()
        if earlier is not None:
            return earlier, False
        own = Visitor.objects.values_list("email", flat=True).get(pk=conversation.visitor_id)
        email = (email or "").strip() or own
        if not email:
            raise lifecycle.LifecycleError("give an email address to send the transcript to", code="email_required")
        needs_confirmation = email.lower() != own.lower()
        request = TranscriptRequest.objects.create(conversation=conversation, request_id=request_id, email=email,
                                                   language=visitor_language(conversation),
                                                   needs_confirmation=needs_confirmation)
        lifecycle.record(conversation, events.TranscriptRequested(request_id=request_id,
                                                                  needs_confirmation=needs_confirmation),
                         lifecycle.Actor.visitor(), timezone.now())
        if needs_confirmation:
            reactions.schedule("surveys.email_transcript_confirmation", key=f"transcript-confirm:{request.pk}",
                               transcript_request_id=request.pk)
        else:
            reactions.schedule("surveys.email_transcript", key=f"transcript:{request.pk}",
                               transcript_request_id=request.pk)
    return request, True


def confirm_transcript(*, transcript_request_id: int):
    """Someone at the address followed the confirmation link: the transcript is emailed to it.
    Returns (request, confirmed now); a second confirmation changes nothing."""
    with lifecycle.transition():
        request = TranscriptRequest.objects.select_for_update().get(pk=transcript_request_id)
        if not request.needs_confirmation or request.confirmed_at is not None:
            return request, False
        request.confirmed_at = timezone.now()
        request.save(update_fields=["confirmed_at"])
        reactions.schedule("surveys.email_transcript", key=f"transcript:{request.pk}", transcript_request_id=request.pk)
    return request, True
