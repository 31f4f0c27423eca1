from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=8)
def email_offline_message(conversation_id: int) -> bool:
    """Email the site's team about an offline message, once.

    The claim is a conditional UPDATE that exactly one run can win, so a task delivered twice
    sends one email. If sending fails the claim is released and the task retries.
    """
    claimed = Conversation.objects.filter(pk=conversation_id, team_notified_at__isnull=True).update(
        team_notified_at=timezone.now()
    )
    if claimed != 1:
        return False
    conversation = Conversation.objects.select_related("site", "visitor").get(pk=conversation_id)
    if not conversation.site.team_email:
        return False
    first = conversation.messages.order_by("seq").first()
    visitor = conversation.visitor
    try:
        send_mail(
            subject=f"[{conversation.site.name}] Offline message from {visitor.name or 'a visitor'}",
            message=(
                f"From: {visitor.name} <{visitor.email}>\n"
                f"Page: {conversation.context.get('page_url', '')}\n\n{first.text if first else ''}\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[conversation.site.team_email],
        )
    except Exception:
        with transaction.atomic():
            Conversation.objects.filter(pk=conversation_id).update(team_notified_at=None)
        raise
    return True
