"""Side effects of the conversation core, carried out by the reaction dispatcher (reactions/)."""

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from conversations.models import Conversation
from reactions import handles


@handles("conversations.email_offline_message")
def email_offline_message(*, conversation_id: int) -> None:
    """Email the site's team about an offline message (scheduled by lifecycle.leave_offline_message).

    team_notified_at is written only once the email has gone, so a run killed before or during the
    send leaves it empty and the next run sends; a run finding it set sends nothing.
    """
    conversation = Conversation.objects.select_related("site", "visitor").filter(
        pk=conversation_id, team_notified_at__isnull=True).first()
    if conversation is None or not conversation.site.team_email:
        return
    first = conversation.messages.order_by("seq").first()
    visitor = conversation.visitor
    send_mail(
        subject=f"[{conversation.site.name}] Offline message from {visitor.name or 'a visitor'}",
        message=(
            f"From: {visitor.name} <{visitor.email}>\n"
            f"Page: {conversation.context.get('page_url', '')}\n\n{first.text if first else ''}\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[conversation.site.team_email],
    )
    Conversation.objects.filter(pk=conversation_id).update(team_notified_at=timezone.now())
