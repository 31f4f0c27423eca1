"""Side effects of the conversation core, carried out by the reaction dispatcher (reactions/)."""

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from conversations.models import Conversation, Site
from reactions import handles

# The most messages one notice lists in full; it counts the rest (they are all in the console).
NOTICE_LISTS_AT_MOST = 50


@handles("conversations.email_offline_messages")
def email_offline_messages(*, site_id: int) -> None:
    """Email the site's team the offline messages nobody has told them of yet, in one email
    (scheduled by lifecycle.leave_offline_message for the end of its period).

    team_notified_at is written only once the email has gone, so a run killed before or during the
    send leaves it empty and the next run sends; a run finding nothing unnotified sends nothing.
    """
    site = Site.objects.filter(pk=site_id).first()
    if site is None or not site.team_email:
        return
    waiting = list(Conversation.objects.filter(site=site, status=Conversation.Status.OFFLINE,
                                               team_notified_at__isnull=True)
                   .select_related("visitor").order_by("created_at", "id"))
    if not waiting:
        return
    listed = waiting[:NOTICE_LISTS_AT_MOST]
    parts = [_notice_part(conversation) for conversation in listed]
    if len(waiting) > len(listed):
        parts.append(f"…and {len(waiting) - len(listed)} more in the console.\n")
    count = f"{len(waiting)} offline message" + ("s" if len(waiting) > 1 else "")
    send_mail(subject=f"[{site.name}] {count}", message="\n".join(parts), from_email=settings.DEFAULT_FROM_EMAIL,
              recipient_list=[site.team_email])
    Conversation.objects.filter(pk__in=[c.pk for c in waiting]).update(team_notified_at=timezone.now())


@handles("conversations.email_offline_message")
def email_offline_message(*, conversation_id: int) -> None:
    """A notice scheduled before notices were per site: it joins its site's."""
    site_id = Conversation.objects.filter(pk=conversation_id).values_list("site_id", flat=True).first()
    if site_id is not None:
        email_offline_messages(site_id=site_id)


def _notice_part(conversation: Conversation) -> str:
    visitor = conversation.visitor
    first = conversation.messages.order_by("seq").first()
    return (f"From: {visitor.name} <{visitor.email}>\n"
            f"Page: {conversation.context.get('page_url', '')}\n\n{first.text if first else ''}\n")
