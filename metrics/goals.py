"""The two visitor facts conversion and engagement are computed from: widget loads and goals.

The only code that writes WidgetLoad and VisitorGoal rows; the visitor socket calls it
(widget/consumers.py). Neither changes a conversation, so neither goes through the lifecycle.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.models import Site, Visitor
from metrics.models import VisitorGoal, WidgetLoad


def record_widget_load(*, site: Site, visitor: Visitor, new_visit: bool) -> WidgetLoad:
    """A visitor socket was greeted (one row per successful `hello`)."""
    return WidgetLoad.objects.create(site=site, visitor=visitor, at=timezone.now(), new_visit=new_visit)


@dataclass(frozen=True)
class GoalRecorded:
    goal: VisitorGoal
    created: bool


def record_goal(*, site: Site, visitor: Visitor, client_id: str, name: str, value: float | int | None) -> GoalRecorded:
    """Store the goal once per (visitor, client_id): a resend returns the first copy unchanged."""
    existing = VisitorGoal.objects.filter(visitor=visitor, client_id=client_id).first()
    if existing is not None:
        return GoalRecorded(existing, False)
    amount = None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))
    try:
        # Two sockets of the visitor may send the same goal at once: the unique constraint
        # keeps one, and the loser reads it back.
        with transaction.atomic():
            goal = VisitorGoal.objects.create(site=site, visitor=visitor, client_id=client_id, name=name,
                                              value=amount, at=timezone.now())
        return GoalRecorded(goal, True)
    except IntegrityError:
        return GoalRecorded(VisitorGoal.objects.get(visitor=visitor, client_id=client_id), False)
