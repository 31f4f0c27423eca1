"""The conversation lifecycle: the only code that changes a conversation.

queued → assigned → active → closed, with the side paths missed (ended with no agent reply),
abandoned (the visitor left while queued), requeued and transferred, plus offline messages.

Every public function here is one state change. It checks the change is legal, writes the rows
and exactly one ConversationEvent in one transaction, and publishes the resulting frames to the
channel layer after commit. Consumers, views, admin actions and tasks call these functions;
nothing else writes conversations, messages or events (surveys/services.py records its events
through `transition`, `lock` and `record` here).

Each event is a typed record (conversations/events.py) handed on to the subscribers of its topic
(reactions/subscriptions.py): routing, presence and surveys react to a change without this module
importing them, so it imports nothing of the apps above it but agents.models.

Locking: a change locks the conversation row (select_for_update) so that two writers, such as a
message and a close arriving through two daphne processes, apply one after the other. A change
that also takes an agent's slot locks the agent row first, then the conversation: one order
everywhere, so two transactions never wait on each other in a cycle. SQLite has no row locks;
there every transaction is opened IMMEDIATE (chatdesk/env.py), which serialises writers.
"""

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import reactions
from agents.models import Agent, Department, Skill
from conversations import events, frames
from conversations.models import Conversation, ConversationEvent, Message, Site, Tag, Topic, Visitor
from conversations.needs import chat_needs
from conversations.publish import (
    publish_frames_on_commit, publish_on_commit, site_staff_group, staff_group, visitor_group,
)
from reactions import subscriptions

Status = Conversation.Status
Kind = ConversationEvent.Kind


class LifecycleError(Exception):
    """A refused change. `code` is the error code clients see (docs/protocol.md)."""

    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code


class IllegalTransition(LifecycleError):
    code = "illegal_transition"


class AgentUnavailable(LifecycleError):
    code = "agent_unavailable"


class AgentAtCapacity(LifecycleError):
    code = "agent_at_capacity"


class DuplicateClientId(LifecycleError):
    code = "duplicate_client_id"


@dataclass(frozen=True)
class Actor:
    """Who causes a change: the visitor, an agent (or supervisor), or the system itself."""

    kind: str
    agent: Agent | None = None

    @classmethod
    def visitor(cls) -> "Actor":
        return cls(ConversationEvent.Actor.VISITOR)

    @classmethod
    def system(cls) -> "Actor":
        return cls(ConversationEvent.Actor.SYSTEM)

    @classmethod
    def of_agent(cls, agent: Agent) -> "Actor":
        return cls(ConversationEvent.Actor.AGENT, agent)


# The changes recorded in the innermost open `transition` block of this thread or task.
_recorded: ContextVar[list[events.Change] | None] = ContextVar("recorded", default=None)


@contextlib.contextmanager
def transition() -> Iterator[None]:
    """The transaction of one state change. Each event recorded in it goes to the topic's
    within-transaction subscribers as it is written, and to its after-commit subscribers at the
    end of the block: after the change's frames, so a socket hears of the change before of what
    a subscriber does next (a routing pass that assigns the chat just queued)."""
    recorded: list[events.Change] = []
    token = _recorded.set(recorded)
    try:
        with transaction.atomic():
            yield
            for change in recorded:
                subscriptions.hand_on_after_commit(change.topic, change)
    finally:
        _recorded.reset(token)


def record(conversation: Conversation, event: events.Event, actor: Actor, at: datetime) -> ConversationEvent:
    row = ConversationEvent.objects.create(
        conversation=conversation, kind=event.kind, at=at, actor=actor.kind, actor_agent=actor.agent,
        details=event.details(),
    )
    change = events.Change(event_id=row.pk, conversation_id=conversation.pk, site_id=conversation.site_id, at=at,
                           actor=actor.kind, actor_agent_id=actor.agent.pk if actor.agent else None, event=event)
    subscriptions.hand_on_within(change.topic, change)
    _recorded.get().append(change)
    return row


def lock(conversation_id: int) -> Conversation:
    return Conversation.objects.select_related("assigned_agent").select_for_update(of=("self",)).get(
        pk=conversation_id
    )


def _not_before_last_event(conversation: Conversation, at: datetime) -> datetime:
    last = conversation.events.order_by("-at").values_list("at", flat=True).first()
    return max(at, last) if last is not None else at


def require_status(conversation: Conversation, allowed: tuple, action: str) -> None:
    if conversation.status not in allowed:
        raise IllegalTransition(f"cannot {action} a conversation that is {conversation.status}")


def _publish_state(conversation: Conversation) -> None:
    staff_frame = frames.state_frame(conversation)
    publish_frames_on_commit([
        (visitor_group(conversation.visitor_id), frames.state_frame(conversation, for_visitor=True)),
        (staff_group(conversation.pk), staff_frame),
        (site_staff_group(conversation.site_id), staff_frame),
    ])


def _append_message(
    conversation: Conversation, *, actor: Actor, text: str, now: datetime, client_id: str | None = None,
    visibility: str = Message.Visibility.PUBLIC, recipient_id: int | None = None,
    canned_response_id: int | None = None,
) -> Message:
    """Write a message of a locked conversation with the next seq, record it and publish it on commit."""
    author = Message.Author.AGENT if actor.agent else actor.kind
    conversation.last_seq += 1
    update = ["last_seq"]
    public = visibility == Message.Visibility.PUBLIC
    if public:
        update.append("last_public_seq")
        previous_public, conversation.last_public_seq = conversation.last_public_seq, conversation.last_seq
    conversation.save(update_fields=update)
    message = Message.objects.create(
        conversation=conversation, seq=conversation.last_seq, client_id=client_id, author=author,
        agent=actor.agent, visibility=visibility, recipient_id=recipient_id, text=text, created_at=now,
        canned_response_id=canned_response_id,
    )
    record(conversation, events.MessagePosted(seq=message.seq, author=author, visibility=visibility, chars=len(text),
                                               canned_response_id=canned_response_id, recipient_id=recipient_id),
            actor, now)
    _publish_message(message, conversation, previous_public if public else None)
    return message


def _publish_message(message: Message, conversation: Conversation, previous_public_seq: int | None) -> None:
    """The message frame for staff sockets and, if public, the visitor's; each names the message
    before it that its audience sees (prev_seq), so a socket can tell a missed frame from a message
    it may not see."""
    frame = frames.message_frame(message, conversation)
    pairs = [(staff_group(conversation.pk), {**frame, "prev_seq": message.seq - 1})]
    if previous_public_seq is not None:
        pairs.append((visitor_group(conversation.visitor_id), {**frame, "prev_seq": previous_public_seq}))
    publish_frames_on_commit(pairs)


def _take_slot(agent_id: int) -> Agent:
    """Lock an agent and check a free slot; the lock holds until the caller's transaction ends.

    The row lock makes concurrent assignments to one agent run one at a time, so the count
    below cannot be stale when the new assignment is written: the cap cannot be exceeded.
    """
    agent = Agent.objects.select_for_update().get(pk=agent_id)
    if agent.status != Agent.Status.ONLINE:
        raise AgentUnavailable(f"{agent} is {agent.status}")
    active = Conversation.objects.filter(assigned_agent=agent, status__in=Conversation.ACTIVE_STATUSES).count()
    if active >= agent.max_concurrent_chats:
        raise AgentAtCapacity(f"{agent} has {active} of {agent.max_concurrent_chats} chats")
    return agent


class QueueFull(LifecycleError):
    code = "queue_full"


def start_conversation(
    *, site: Site, visitor: Visitor, topic: Topic | None = None, name: str = "", email: str = "",
    context: dict | None = None, priority: int = 0, text: str = "", client_id: str | None = None,
) -> tuple[Conversation, bool]:
    """Queue a new chat for the visitor, with `text` as its first message; returns the open one
    instead if there is one (the text is added to it: a second tab's question is not lost).

    The widget always sends a first message, so no chat reaches an agent before its visitor has
    said something (docs/protocol.md, `start`). The site's queue holds at most `site.queue_limit`
    chats: QueueFull beyond that. The chat needs the skills of its topic, its site, the page rules
    its page matches and the visitor's language (conversations/needs.py); matching page rules may
    raise its priority.
    """
    with transition():
        # The visitor row lock makes two tabs that start at once end up in one conversation.
        visitor = Visitor.objects.select_for_update().get(pk=visitor.pk)
        existing = visitor.conversations.filter(status__in=Conversation.OPEN_STATUSES).first()
        if existing is None:
            return _queue_new_chat(site=site, visitor=visitor, topic=topic, name=name, email=email,
                                   context=context or {}, priority=priority, text=text, client_id=client_id), True
    # Outside the visitor's lock: post_message locks the conversation, and request_transcript takes
    # the two the other way round.
    if text:
        post_message(conversation_id=existing.pk, actor=Actor.visitor(), text=text, client_id=client_id)
    return existing, False


def _queue_new_chat(*, site: Site, visitor: Visitor, topic: Topic | None, name: str, email: str, context: dict,
                    priority: int, text: str, client_id: str | None) -> Conversation:
    if topic is not None and topic.site_id != site.pk:
        raise LifecycleError("topic belongs to another site", code="invalid_topic")
    # The site row lock makes the queue count exact: two starts cannot both take the last place.
    site = Site.objects.select_for_update().get(pk=site.pk)
    if Conversation.objects.filter(site=site, status=Status.QUEUED).count() >= site.queue_limit:
        raise QueueFull("the queue is full; leave a message")
    now = timezone.now()
    skill_ids, priority = chat_needs(site=site, topic=topic, page_url=context.get("page_url") or "",
                                     language=context.get("language") or "", priority=priority)
    if name or email:
        visitor.name, visitor.email = name or visitor.name, email or visitor.email
        visitor.save(update_fields=["name", "email"])
    conversation = Conversation.objects.create(
        site=site, visitor=visitor, topic=topic, department=topic.department if topic else None,
        priority=priority, status=Status.QUEUED, context=context, queued_at=now,
    )
    conversation.required_skills.set(skill_ids)
    record(conversation, events.Queued(topic=topic.label if topic else None, priority=priority,
                                        skill_ids=sorted(skill_ids), department_id=conversation.department_id),
            Actor.visitor(), now)
    if text:
        _append_message(conversation, actor=Actor.visitor(), text=text, now=now, client_id=client_id)
    _publish_state(conversation)
    return conversation


def post_message(
    *, conversation_id: int, actor: Actor, text: str, client_id: str | None = None,
    visibility: str = Message.Visibility.PUBLIC, canned_response_id: int | None = None,
) -> tuple[Message, bool]:
    """Store a message with the next sequence number; a resend of a client id returns the first copy.

    Returns (message, created). One short transaction with a constant number of queries.
    """
    author = Message.Author.AGENT if actor.agent else actor.kind
    if visibility != Message.Visibility.PUBLIC and author != Message.Author.AGENT:
        raise LifecycleError("only agents write internal notes and whispers", code="forbidden")
    with transition():
        conversation = lock(conversation_id)
        if client_id is not None:
            # Under the conversation lock no other insert for this conversation can race us.
            existing = Message.objects.filter(conversation=conversation, client_id=client_id).select_related(
                "agent").first()
            if existing is not None:
                if existing.author != author or existing.agent_id != (actor.agent.pk if actor.agent else None):
                    raise DuplicateClientId("that client_id was used by someone else")
                # A resend means the sender never saw the ack: perhaps the process that stored it died
                # before publishing. Publishing again costs nothing (sockets drop a seq they have sent).
                _publish_message(existing, conversation, _public_seq_before(existing))
                return existing, False
        require_status(conversation, Conversation.OPEN_STATUSES, "write to")
        # A whisper is for the agent who has the chat now, read under the lock so a transfer cannot
        # slip in between: the next agent does not see it.
        recipient_id = conversation.assigned_agent_id if visibility == Message.Visibility.WHISPER else None
        if visibility == Message.Visibility.WHISPER and recipient_id is None:
            raise IllegalTransition("nobody is assigned to this chat to whisper to")
        message = _append_message(conversation, actor=actor, text=text, now=timezone.now(), client_id=client_id,
                                  visibility=visibility, recipient_id=recipient_id,
                                  canned_response_id=canned_response_id)
    return message, True


def _public_seq_before(message: Message) -> int | None:
    """For a public message, the seq of the public message before it (0: none); None for the others."""
    if message.visibility != Message.Visibility.PUBLIC:
        return None
    return (Message.objects.filter(conversation_id=message.conversation_id, seq__lt=message.seq,
                                   visibility=Message.Visibility.PUBLIC)
            .order_by("-seq").values_list("seq", flat=True).first() or 0)


def mark_seen(*, conversation_id: int, actor: Actor, seq: int) -> bool:
    """Move the visitor's or the agents' read marker forward to seq; returns whether it moved."""
    field = "visitor_seen_seq" if actor.kind == ConversationEvent.Actor.VISITOR else "agent_seen_seq"
    with transition():
        conversation = lock(conversation_id)
        seq = min(seq, conversation.last_seq)
        if seq <= getattr(conversation, field):
            return False
        setattr(conversation, field, seq)
        conversation.save(update_fields=[field])
        record(conversation, events.Seen(seq=seq), actor, timezone.now())
        frame = {"type": "seen", "conversation_id": str(conversation.public_id),
                 "by": "visitor" if field == "visitor_seen_seq" else "agent", "seq": seq}
        publish_on_commit([visitor_group(conversation.visitor_id), staff_group(conversation.pk)], frame)
    return True


def assign_conversation(*, conversation_id: int, agent: Agent, actor: Actor, reason: dict | None = None) -> Conversation:
    """Give a queued chat to an agent, never above the agent's cap (see _take_slot)."""
    with transition():
        agent = _take_slot(agent.pk)
        conversation = lock(conversation_id)
        require_status(conversation, (Status.QUEUED,), "assign")
        now = timezone.now()
        conversation.status, conversation.assigned_agent = Status.ASSIGNED, agent
        conversation.save(update_fields=["status", "assigned_agent"])
        agent.last_assigned_at = now
        agent.save(update_fields=["last_assigned_at"])
        record(conversation, events.Assigned(agent_id=agent.pk, reason=reason or {}), actor, now)
        _publish_state(conversation)
    return conversation


def accept_conversation(*, conversation_id: int, agent: Agent, auto: bool = False) -> Conversation:
    """The assigned agent takes the chat (auto: the department auto-accepts, so the system does it)."""
    with transition():
        # Agent row first, as everywhere: an accept ends the agent's run of missed offers while
        # expire_offer, holding the same lock, may be counting one.
        agent = Agent.objects.select_for_update().filter(pk=getattr(agent, "pk", None)).first()
        conversation = lock(conversation_id)
        require_status(conversation, (Status.ASSIGNED,), "accept")
        if agent is None or conversation.assigned_agent_id != agent.pk:
            raise IllegalTransition("only the assigned agent can accept", code="forbidden")
        conversation.status = Status.ACTIVE
        conversation.save(update_fields=["status"])
        record(conversation, events.Accepted(agent_id=agent.pk, auto=auto),
                Actor.system() if auto else Actor.of_agent(agent), timezone.now())
        _publish_state(conversation)
    return conversation


def requeue_conversation(*, conversation_id: int, actor: Actor, reason: str, note: str = "") -> Conversation:
    """Send an assigned chat back to the queue at its original place (queued_at is kept).

    A `note` is written into the chat as an internal message from the system, for the next agent.
    """
    with transition():
        conversation = lock(conversation_id)
        require_status(conversation, Conversation.ACTIVE_STATUSES, "requeue")
        from_agent = conversation.assigned_agent_id
        conversation.status, conversation.assigned_agent = Status.QUEUED, None
        conversation.save(update_fields=["status", "assigned_agent"])
        now = timezone.now()
        record(conversation, events.Requeued(from_agent_id=from_agent, reason=reason), actor, now)
        if note:
            _append_message(conversation, actor=Actor.system(), text=note, now=now,
                            visibility=Message.Visibility.INTERNAL)
        _publish_state(conversation)
    return conversation


def expire_offer(*, conversation_id: int, offer_event_id: int) -> Conversation | None:
    """Take back an offer that was not accepted in time; None (and no change) if it is no longer pending.

    The offer is the `assigned` event offer_event_id. It is pending while the chat is still assigned
    to that agent and nothing (accept, transfer, requeue, another assignment) has happened to it
    since, so a task for an older offer, or one delivered twice, changes nothing. The chat goes
    back to the queue at its place, recorded as `requeued` with reason "offer_timeout" (routing then
    prefers other agents for it; agents.presence counts the miss against the agent).
    """
    offer = ConversationEvent.objects.filter(
        pk=offer_event_id, conversation_id=conversation_id, kind=Kind.ASSIGNED
    ).values_list("details", flat=True).first()
    if offer is None:
        return None
    agent_id = events.parse(Kind.ASSIGNED, offer).agent_id
    with transition():
        # Agent row first, then the conversation: the agent's miss count changes in this
        # transaction (agents.presence), and an accept of this chat takes the same locks in the same order.
        agent = Agent.objects.select_for_update().filter(pk=agent_id).first()
        conversation = lock(conversation_id)
        later = conversation.events.filter(
            pk__gt=offer_event_id, kind__in=(Kind.ASSIGNED, Kind.ACCEPTED, Kind.TRANSFERRED, Kind.REQUEUED)
        )
        if (agent is None or conversation.status != Status.ASSIGNED or conversation.assigned_agent_id != agent_id
                or later.exists()):
            return None
        conversation.status, conversation.assigned_agent = Status.QUEUED, None
        conversation.save(update_fields=["status", "assigned_agent"])
        record(conversation, events.Requeued(from_agent_id=agent_id, reason="offer_timeout",
                                              offer_event_id=offer_event_id), Actor.system(), timezone.now())
        _publish_state(conversation)
    return conversation


def transfer_conversation(
    *, conversation_id: int, actor: Actor, to_agent: Agent | None = None,
    to_department: Department | None = None, to_skill: Skill | None = None, note: str = "",
) -> Conversation:
    """Move a chat to another agent (cap-checked), to a department's queue, or to the queue for one skill.

    A transfer to a skill makes that skill the chat's only required skill (its department stays).
    """
    if sum(target is not None for target in (to_agent, to_department, to_skill)) != 1:
        raise LifecycleError("transfer to exactly one of an agent, a department or a skill", code="invalid_field")
    with transition():
        target = _take_slot(to_agent.pk) if to_agent else None
        conversation = lock(conversation_id)
        require_status(conversation, Conversation.ACTIVE_STATUSES, "transfer")
        from_agent = conversation.assigned_agent_id
        if target is not None:
            if target.pk == from_agent:
                raise IllegalTransition("the chat is already with that agent")
            conversation.status, conversation.assigned_agent = Status.ASSIGNED, target
            target.last_assigned_at = timezone.now()
            target.save(update_fields=["last_assigned_at"])
        else:
            conversation.status, conversation.assigned_agent = Status.QUEUED, None
            if to_department is not None:
                conversation.department = to_department
            if to_skill is not None:
                conversation.required_skills.set([to_skill])
        conversation.save(update_fields=["status", "assigned_agent", "department"])
        record(conversation, events.Transferred(
            from_agent_id=from_agent, to_agent_id=target.pk if target else None,
            to_department_id=to_department.pk if to_department else None,
            to_skill_id=to_skill.pk if to_skill else None, note=note,
        ), actor, timezone.now())
        _publish_state(conversation)
    return conversation


def close_conversation(
    *, conversation_id: int, actor: Actor, resolved: bool | None = None, summary: str = "", details: dict | None = None,
    ended_at: datetime | None = None,
) -> Conversation:
    """End a chat: abandoned if still queued, missed if no agent ever replied, else closed.

    ended_at: when the chat really ended, if that was before now (a visitor who left the site,
    found after a grace period: conversations/departures.py), so its wait is measured to that moment.
    Never before the chat's last event: the event history stays in order.
    """
    with transition():
        conversation = lock(conversation_id)
        require_status(conversation, Conversation.OPEN_STATUSES, "close")
        if conversation.status == Status.QUEUED:
            outcome = Status.ABANDONED
        elif conversation.messages.filter(author=Message.Author.AGENT, visibility=Message.Visibility.PUBLIC).exists():
            outcome = Status.CLOSED
        else:
            outcome = Status.MISSED
        now = timezone.now()
        if ended_at is not None:
            now = _not_before_last_event(conversation, min(ended_at, now))
        conversation.status, conversation.closed_at = outcome, now
        conversation.save(update_fields=["status", "closed_at"])
        record(conversation, events.KINDS[outcome](agent_id=conversation.assigned_agent_id, resolved=resolved,
                                                    summary=summary, **(details or {})), actor, now)
        _publish_state(conversation)
    return conversation


def leave_offline_message(
    *, site: Site, visitor: Visitor, name: str, email: str, text: str, client_id: str, context: dict | None = None,
) -> tuple[Conversation, bool]:
    """Store a message left while nobody could chat, as a conversation the team sees later.

    A resend with the same client id returns the first conversation. The team hears of it in the
    site's next offline notice, a reaction written in this transaction (_schedule_offline_notice).
    """
    with transition():
        visitor = Visitor.objects.select_for_update().get(pk=visitor.pk)
        earlier = Message.objects.filter(
            Q(conversation__visitor=visitor) & Q(conversation__status=Status.OFFLINE), client_id=client_id
        ).select_related("conversation").first()
        if earlier is not None:
            return earlier.conversation, False
        now = timezone.now()
        visitor.name, visitor.email = name or visitor.name, email or visitor.email
        visitor.save(update_fields=["name", "email"])
        conversation = Conversation.objects.create(
            site=site, visitor=visitor, status=Status.OFFLINE, context=context or {}, last_seq=1, last_public_seq=1,
            closed_at=now,
        )
        Message.objects.create(conversation=conversation, seq=1, client_id=client_id,
                               author=Message.Author.VISITOR, text=text, created_at=now)
        record(conversation, events.OfflineMessage(chars=len(text)), Actor.visitor(), now)
        _schedule_offline_notice(site, now)
        publish_on_commit([site_staff_group(site.pk)], frames.state_frame(conversation))
    return conversation, True


def _schedule_offline_notice(site: Site, now: datetime) -> None:
    """The team hears of offline messages in one email per site and period: every message of a
    period is listed in the email sent when it ends (conversations/reactions.py), so a flood of
    messages is one email, not one each."""
    every = settings.OFFLINE_NOTICE_EVERY_SECONDS
    period_end = (int(now.timestamp()) // every + 1) * every
    reactions.schedule("conversations.email_offline_messages", key=f"offline:{site.pk}:{period_end}",
                       due_at=datetime.fromtimestamp(period_end, tz=dt_timezone.utc), site_id=site.pk)


def record_page_view(*, conversation_id: int, url: str, title: str) -> bool:
    """Add a page to an open conversation's visitor context when the visitor moves to a new page."""
    with transition():
        conversation = lock(conversation_id)
        if not conversation.is_open:
            return False
        pages = conversation.context.setdefault("pages", [])
        if pages and pages[-1].get("url") == url:
            return False
        now = timezone.now()
        pages.append({"url": url, "title": title, "at": now.isoformat()})
        conversation.context["page_url"], conversation.context["page_title"] = url, title
        conversation.save(update_fields=["context"])
        record(conversation, events.PageViewed(url=url), Actor.visitor(), now)
        publish_on_commit([staff_group(conversation.pk)], {"type": "context", "conversation_id": str(conversation.public_id),
                                                           "context": conversation.context})
    return True


# --- Agent console: tags, wrap-up, closing with wrap-up ------------------------------------------

def _publish_tags(conversation: Conversation) -> None:
    names = sorted(conversation.tags.values_list("name", flat=True))
    publish_on_commit([staff_group(conversation.pk)],
                      {"type": "tags", "conversation_id": str(conversation.public_id), "tags": names})


def _check_tag_site(conversation: Conversation, tag: Tag) -> None:
    if tag.site_id != conversation.site_id:
        raise LifecycleError(f"the site has no tag {tag.name!r}", code="unknown_tag")


def tag_conversation(*, conversation_id: int, actor: Actor, tag: Tag) -> bool:
    """Add one of the site's tags; returns False (and records nothing) if the chat already has it."""
    with transition():
        conversation = lock(conversation_id)
        _check_tag_site(conversation, tag)
        if conversation.tags.filter(pk=tag.pk).exists():
            return False
        conversation.tags.add(tag)
        record(conversation, events.Tagged(tag_id=tag.pk, tag=tag.name), actor, timezone.now())
        _publish_tags(conversation)
    return True


def untag_conversation(*, conversation_id: int, actor: Actor, tag: Tag) -> bool:
    """Remove a tag; returns False (and records nothing) if the chat did not have it."""
    with transition():
        conversation = lock(conversation_id)
        _check_tag_site(conversation, tag)
        if not conversation.tags.filter(pk=tag.pk).exists():
            return False
        conversation.tags.remove(tag)
        record(conversation, events.Untagged(tag_id=tag.pk, tag=tag.name), actor, timezone.now())
        _publish_tags(conversation)
    return True


# Events after which an agent's wrap-up of a chat starts afresh (the chat changed hands).
_HANDOVER_KINDS = (Kind.ASSIGNED, Kind.ACCEPTED, Kind.TRANSFERRED, Kind.REQUEUED)


def _current_wrapup(conversation: Conversation) -> ConversationEvent | None:
    """The wrap-up started since the chat last changed hands, if any."""
    handover = conversation.events.filter(kind__in=_HANDOVER_KINDS).order_by("-id").values_list("id", flat=True).first()
    return conversation.events.filter(kind=Kind.WRAPUP, id__gt=handover or 0).order_by("id").first()


def start_wrapup(*, conversation_id: int, actor: Actor) -> bool:
    """Record that the agent has finished talking and started the after-chat work (notes, tags, summary).

    The first call since the chat last changed hands counts; later ones return False and record
    nothing. close_with_wrapup reads it so handle time can include the after-chat work.
    """
    with transition():
        conversation = lock(conversation_id)
        require_status(conversation, Conversation.ACTIVE_STATUSES, "wrap up")
        if _current_wrapup(conversation) is not None:
            return False
        now = timezone.now()
        record(conversation, events.WrapupStarted(agent_id=conversation.assigned_agent_id), actor, now)
        publish_on_commit([staff_group(conversation.pk)], {
            "type": "wrapup", "conversation_id": str(conversation.public_id), "started_at": now.isoformat(),
        })
    return True


def close_with_wrapup(
    *, conversation_id: int, actor: Actor, resolved: bool | None = None, summary: str = "",
    tags: list[Tag] | tuple[Tag, ...] = (),
) -> Conversation:
    """An agent's close: add the wrap-up tags, enforce the site's require_tag_on_close, then close.

    One transition and one event: the close event (see close_conversation) also holds `tags` (the
    chat's tags after this close), `wrapup_started_at` and `wrapup_source`: the time of the
    agent's `wrapup` (start_wrapup) since the chat last changed hands, else the time of the last
    message ("last_message"), else null. After-chat work = the close event's `at` minus
    `wrapup_started_at`.
    """
    with transition():
        conversation = lock(conversation_id)
        require_status(conversation, Conversation.OPEN_STATUSES, "close")
        for tag in tags:
            _check_tag_site(conversation, tag)
        if tags:
            conversation.tags.add(*tags)
        names = sorted(conversation.tags.values_list("name", flat=True))
        if conversation.site.require_tag_on_close and not names:
            raise LifecycleError("this site needs at least one tag on every closed chat", code="tag_required")
        wrapup = _current_wrapup(conversation)
        if wrapup is not None:
            started, source = wrapup.at, "wrapup"
        else:
            started = conversation.messages.order_by("-seq").values_list("created_at", flat=True).first()
            source = "last_message" if started else None
        # Nested in this transaction: close_conversation's rows, event and frames commit with the tags.
        return close_conversation(
            conversation_id=conversation_id, actor=actor, resolved=resolved, summary=summary,
            details={"tags": names, "wrapup_started_at": started.isoformat() if started else None,
                     "wrapup_source": source},
        )
