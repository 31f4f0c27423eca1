"""What surveys do when a conversation changes (reactions/subscriptions.py)."""

from datetime import timedelta

import reactions
from conversations import events
from conversations.models import Site
from reactions.subscriptions import subscribe
from surveys.services import RATED_STATUSES


@subscribe(*(f"conversation.{status}" for status in RATED_STATUSES))
def schedule_survey_email(change: events.Change) -> None:
    """After a chat ends, email its survey later unless the visitor rates it in the widget first.

    A reaction in the closing transaction, due the site's survey delay after the close: the handler
    (surveys/reactions.py) checks everything again when it runs (an email, no answer yet) and sends
    at most one.
    """
    delay = Site.objects.values_list("survey_delay_minutes", flat=True).get(pk=change.site_id)
    reactions.schedule("surveys.email_survey", key=f"survey:{change.conversation_id}",
                       due_at=change.at + timedelta(minutes=delay), conversation_id=change.conversation_id)
