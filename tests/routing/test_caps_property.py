"""Random arrivals, closes, accepts, transfers, requeues, status and cap changes through the real
lifecycle and dispatch (every on-commit routing pass runs). After every step:

* no agent took a chat above their cap (an agent may stay above a cap lowered under them, but gets
  nothing new until below it);
* no conversation was given to a second agent without going back to the queue first;
* no chat waits while an online agent who matches it has a free slot.

Acme has Support (orders and billing chats) and Sales (chats that need no skill), plus chats
with no topic. Alice, Bob, Carol and Dave have different skills, departments, caps and statuses.
"""

import logging

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents import presence
from agents.models import Agent, Department
from conversations import lifecycle
from conversations.lifecycle import Actor, LifecycleError
from conversations.models import Conversation, ConversationEvent
from tests.personas import make_agent, make_site, make_topic, make_visitor

pytestmark = pytest.mark.django_db

AGENTS = 4
OPEN = Conversation.OPEN_STATUSES
Kind = ConversationEvent.Kind

steps = st.lists(st.one_of(
    st.tuples(st.just("arrive"), st.integers(0, 3), st.integers(0, 1)),
    st.tuples(st.just("close"), st.integers(0, 50)),
    st.tuples(st.just("accept"), st.integers(0, 50)),
    st.tuples(st.just("requeue"), st.integers(0, 50)),
    st.tuples(st.just("transfer_agent"), st.integers(0, 50), st.integers(0, AGENTS - 1)),
    st.tuples(st.just("transfer_department"), st.integers(0, 50), st.integers(0, 1)),
    st.tuples(st.just("status"), st.integers(0, AGENTS - 1), st.sampled_from(Agent.Status.values)),
    st.tuples(st.just("cap"), st.integers(0, AGENTS - 1), st.integers(0, 4)),
), min_size=1, max_size=25)


class World:
    def __init__(self):
        self.site = make_site()
        self.support = Department.objects.create(name="Support")
        self.sales = Department.objects.create(name="Sales")
        orders, billing = make_topic(self.site, "Orders", "orders"), make_topic(self.site, "Billing", "billing")
        chat = self.site.topics.create(label="Just chat", department=self.sales)
        for topic in (orders, billing):
            topic.department = self.support
            topic.save(update_fields=["department"])
        self.topics = [orders, billing, chat, None]
        specs = [
            ("alice", 2, Agent.Status.ONLINE, {"orders": 5, "billing": 2}, [self.support]),
            ("bob", 1, Agent.Status.ONLINE, {"orders": 2}, [self.support, self.sales]),
            ("carol", 3, Agent.Status.OFFLINE, {"billing": 5}, [self.support]),
            ("dave", 2, Agent.Status.AWAY, {}, [self.sales]),
        ]
        self.agents = []
        for username, cap, status, skills, departments in specs:
            agent = make_agent(username, cap=cap, status=status, skills=skills)
            agent.departments.set(departments)
            self.agents.append(agent)
        self.visitors = 0

    def open_chat(self, index: int, statuses=OPEN) -> Conversation | None:
        chats = list(Conversation.objects.filter(site=self.site, status__in=statuses).order_by("id"))
        return chats[index % len(chats)] if chats else None

    def apply(self, step) -> None:
        kind, *args = step
        if kind == "arrive":
            self.visitors += 1
            visitor = make_visitor(self.site, f"V{self.visitors}")
            lifecycle.start_conversation(site=self.site, visitor=visitor, topic=self.topics[args[0]],
                                         priority=args[1])
        elif kind == "status":
            presence.set_agent_status(self.agents[args[0]], args[1])
        elif kind == "cap":
            presence.set_agent_cap(self.agents[args[0]], args[1])
        else:
            chat = self.open_chat(args[0])
            if chat is None:
                return
            system = Actor.system()
            actions = {
                "close": lambda: lifecycle.close_conversation(conversation_id=chat.pk, actor=system),
                "accept": lambda: lifecycle.accept_conversation(conversation_id=chat.pk, agent=chat.assigned_agent),
                "requeue": lambda: lifecycle.requeue_conversation(conversation_id=chat.pk, actor=system,
                                                                  reason="test"),
                "transfer_agent": lambda: lifecycle.transfer_conversation(
                    conversation_id=chat.pk, actor=system, to_agent=self.agents[args[-1]]),
                "transfer_department": lambda: lifecycle.transfer_conversation(
                    conversation_id=chat.pk, actor=system, to_department=(self.support, self.sales)[args[-1]]),
            }
            try:
                actions[kind]()
            except LifecycleError:
                pass  # refused changes (accepting a queued chat, transferring to a full agent) are fine

    def loads(self) -> dict[int, tuple[int, int]]:
        result = {}
        for agent in Agent.objects.filter(pk__in=[a.pk for a in self.agents]):
            active = Conversation.objects.filter(assigned_agent=agent, status__in=Conversation.ACTIVE_STATUSES).count()
            result[agent.pk] = (active, agent.max_concurrent_chats)
        return result

    def check(self, before: dict[int, tuple[int, int]], first_event_id: int) -> None:
        after = self.loads()
        new_events = ConversationEvent.objects.filter(id__gt=first_event_id, conversation__site=self.site)
        given_to = {e.details.get("agent_id") for e in new_events.filter(kind=Kind.ASSIGNED)}
        given_to |= {e.details.get("to_agent_id") for e in new_events.filter(kind=Kind.TRANSFERRED)}
        for agent_id, (active, cap) in after.items():
            if agent_id in given_to:
                assert active <= cap, f"agent {agent_id} was given a chat above their cap: {active} > {cap}"
            else:
                assert active <= max(cap, before[agent_id][0]), f"agent {agent_id} grew above cap"

        for chat in Conversation.objects.filter(site=self.site):
            events = list(chat.events.values_list("kind", "details"))
            gained = sum(k == Kind.ASSIGNED or (k == Kind.TRANSFERRED and bool(d.get("to_agent_id")))
                         for k, d in events)
            released = sum(k == Kind.REQUEUED or (k == Kind.TRANSFERRED and bool(d.get("to_department_id")))
                           for k, d in events)
            moved = sum(k == Kind.TRANSFERRED and bool(d.get("to_agent_id")) for k, d in events)
            # Each agent after the first came by a transfer, or after the chat went back to the queue.
            assert gained <= 1 + released + moved
            if chat.status == Conversation.Status.QUEUED:
                assert chat.assigned_agent_id is None
            elif chat.status in Conversation.ACTIVE_STATUSES:
                assert chat.assigned_agent_id is not None

        for chat in Conversation.objects.filter(site=self.site, status=Conversation.Status.QUEUED):
            needed = set(chat.required_skills.values_list("id", flat=True))
            for agent in Agent.objects.filter(status=Agent.Status.ONLINE, pk__in=after):
                active, cap = after[agent.pk]
                in_department = chat.department_id is None or agent.departments.filter(pk=chat.department_id).exists()
                skilled = needed <= set(agent.agent_skills.values_list("skill_id", flat=True))
                assert not (active < cap and in_department and skilled), (
                    f"chat {chat.pk} waits while {agent} has {active} of {cap} and matches it")


class _Failures(logging.Handler):
    """Routing runs in robust on-commit callbacks, which log a failure instead of raising it."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.mark.timeout(300)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps)
def test_random_operations_never_break_a_cap_double_assign_or_leave_a_matching_slot_idle(steps):
    from django.test import TestCase

    failures = _Failures()
    logging.getLogger("django.db.backends.base").addHandler(failures)
    try:
        with transaction.atomic():  # each example starts from the same empty database
            world = World()
            for step in steps:
                before = world.loads()
                first_event_id = ConversationEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
                with TestCase.captureOnCommitCallbacks(execute=True):
                    world.apply(step)
                assert not failures.records, failures.records[0].getMessage()
                world.check(before, first_event_id)
            transaction.set_rollback(True)
    finally:
        logging.getLogger("django.db.backends.base").removeHandler(failures)
