"""Who reacts to a change: the app that makes a change hands it on by topic, and the apps that care
subscribe to the topic, so the one that changes never imports the ones that react.

Topics are strings: "conversation.<event kind>" (conversations/events.py); "agent.status",
"agent.cap" and "agent.profile" (agents/presence.py, agents/services.py); "agent.consoles" (an
agent's consoles gone, routing/grace.py); "routing.settings" (departments changed,
agents/services.py). Apps subscribe in their `subscribers.py`, imported by their
AppConfig.ready, so every process has the same subscribers before it serves anything.

Two kinds of subscriber:

* within (the default): called inside the changing transaction, so what it writes (a row, a
  durable reaction with reactions.schedule) commits or rolls back with the change. It must be
  quick and must not talk to anything outside the database.
* after_commit: called once the change has committed (routing, frames): cheap and allowed to
  be lost with its process, because a sweep or the next change covers it. An exception is
  logged; it never undoes the change or stops the other subscribers.
"""

from collections import defaultdict
from collections.abc import Callable
from functools import partial

from django.db import transaction

Subscriber = Callable[[object], object]

_within: dict[str, list[Subscriber]] = defaultdict(list)
_after_commit: dict[str, list[Subscriber]] = defaultdict(list)


def subscribe(*topics: str, after_commit: bool = False) -> Callable[[Subscriber], Subscriber]:
    """Register the decorated function for these topics; it gets the change as its one argument."""
    def register(subscriber: Subscriber) -> Subscriber:
        table = _after_commit if after_commit else _within
        for topic in topics:
            if subscriber not in table[topic]:  # a module imported twice registers once
                table[topic].append(subscriber)
        return subscriber

    return register


def hand_on_within(topic: str, change: object) -> None:
    """Call the topic's within-transaction subscribers now, in the caller's transaction."""
    for subscriber in _within.get(topic, ()):
        subscriber(change)


def hand_on_after_commit(topic: str, change: object) -> None:
    """Call the topic's after-commit subscribers once the caller's transaction commits (at once
    outside a transaction), in the order they subscribed."""
    for subscriber in _after_commit.get(topic, ()):
        # robust: Django logs a subscriber's exception and goes on with the others.
        transaction.on_commit(partial(subscriber, change), robust=True)
