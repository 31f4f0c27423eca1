"""What the agent console socket does with the database, kept out of the consumer's event loop.

Permissions live here, checked for every frame (console/consumers.py calls `authorize` first):

* an agent sees their own chats (assigned to them, whatever the status) and the queue (any
  queued chat), and acts (writes, notes, tags, transfers, closes) on their own chats only;
* supervisors (Agent.role) and admins (User.is_superuser, who also need an Agent profile to sign
  in) see and act on every chat, and alone may whisper, barge and reassign. Opening a chat they do
  not own is a silent monitor: nothing is recorded and the visitor is not told;
* only the agent a chat is assigned to accepts it;
* a whisper is read by supervisors and by the agent it was written for (Message.recipient), not by
  an agent the chat moves to later (`sees`).
"""

import uuid
from collections import defaultdict

from django.db.models import Count, F, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.models import Agent, CannedResponse, Department, Skill
from conversations import frames, lifecycle
from conversations.models import Conversation, ConversationEvent, Message, Site, Tag
from conversations.selectors import messages_after, read_to
from realtime.connections import consoles
from realtime.framing import FrameError
from routing import offers

Status = Conversation.Status
QUEUE_LIST_LIMIT = 50
BOARD_LIMIT = 500
EARLIER_LIMIT = 20


class ConsoleError(FrameError):
    """A console action refused: not permitted, or naming something that is not there."""


# --- who -----------------------------------------------------------------------------------------

def load_agent(user) -> Agent | None:
    if user is None or not user.is_authenticated:
        return None
    return Agent.objects.select_related("user").filter(user=user).first()


def is_supervisor(agent: Agent) -> bool:
    return agent.is_supervisor


def may_view(agent: Agent, conversation: Conversation, *, supervisor: bool) -> bool:
    return supervisor or conversation.assigned_agent_id == agent.pk or conversation.status == Status.QUEUED


def may_act(agent: Agent, conversation: Conversation, *, supervisor: bool) -> bool:
    return supervisor or conversation.assigned_agent_id == agent.pk


def sees(agent: Agent, message: dict, *, supervisor: bool) -> bool:
    """Whether an agent may read a message frame: a whisper only by supervisors and the agent it coaches."""
    return (message["visibility"] != Message.Visibility.WHISPER or supervisor
            or message.get("recipient_id") == agent.pk)


def for_state(queryset: QuerySet) -> QuerySet:
    """Conversations with what `state` reads: related rows, and the latest hand-over (for an offer's timer).

    The latest `assigned` or `transferred` event, as routing.offers.expire_stale_offers reads it: an
    assigned chat whose latest hand-over is an `assigned` event is a pending offer.
    """
    latest = ConversationEvent.objects.filter(
        conversation=OuterRef("pk"), kind__in=(ConversationEvent.Kind.ASSIGNED, ConversationEvent.Kind.TRANSFERRED)
    ).order_by("-id")
    return queryset.select_related("assigned_agent", "visitor", "site", "department").annotate(
        handover_kind=Subquery(latest.values("kind")[:1]), handover_at=Subquery(latest.values("at")[:1]),
    )


def find_conversation(public_id: str) -> Conversation | None:
    try:
        key = uuid.UUID(public_id)
    except ValueError:
        return None
    return for_state(Conversation.objects.exclude(status=Status.OFFLINE).filter(public_id=key)).first()


def authorize(agent: Agent, public_id: str, need: str, *, supervisor: bool) -> Conversation:
    """The conversation a frame names, if this agent may do `need` to it: view, act, reply, supervise or take.

    An unknown id and one the agent may not see get different codes; ids are random UUIDs, so
    `not_found` reveals nothing.
    """
    conversation = find_conversation(public_id)
    if conversation is None:
        raise ConsoleError("not_found", "no such conversation", field="conversation_id")
    allowed = {
        "view": lambda: may_view(agent, conversation, supervisor=supervisor),
        "act": lambda: may_act(agent, conversation, supervisor=supervisor),
        # Only the chat's own agent replies; a supervisor writes to the visitor with `barge`.
        "reply": lambda: conversation.assigned_agent_id == agent.pk,
        "supervise": lambda: supervisor,
        # Taking is for chats in the queue; the lifecycle refuses any other status.
        "take": lambda: True,
        # Only the agent it is assigned to accepts a chat (supervisors too: reassign it instead). A
        # chat assigned to nobody (queued, or ended unassigned) is left to the lifecycle's
        # illegal_transition.
        "accept": lambda: conversation.assigned_agent_id in (None, agent.pk),
    }[need]()
    if not allowed:
        raise ConsoleError("forbidden", f"you may not {need} this conversation", field="conversation_id")
    return conversation


# --- frames --------------------------------------------------------------------------------------

def state(conversation: Conversation, now=None) -> dict:
    """The visitor's `state` frame plus what a console needs to list the chat (read through `for_state`)."""
    return {**frames.state_frame(conversation), "agent_id": conversation.assigned_agent_id,
            "visitor_name": conversation.visitor.name, "site": conversation.site.name,
            "site_id": conversation.site_id, "offer_seconds_left": offer_seconds_left(conversation, now)}


def offer_seconds_left(conversation: Conversation, now=None) -> int | None:
    """Seconds until a pending offer is taken back (0 once due); None when the chat is not a timed offer.

    Transfers to an agent and auto-accept departments have no timer (docs/routing.md).
    """
    timeout = offers.offer_timeout_of(conversation.department)
    if (conversation.status != Status.ASSIGNED or timeout is None
            or conversation.handover_kind != ConversationEvent.Kind.ASSIGNED):
        return None
    elapsed = ((now or timezone.now()) - conversation.handover_at).total_seconds()
    return max(0, round(timeout - elapsed))


def state_of(conversation_id: int) -> dict:
    return state(for_state(Conversation.objects.filter(pk=conversation_id)).get())


def agent_frame(agent: Agent) -> dict:
    return status_frame(agent_id=agent.pk, status=agent.status, cap=agent.max_concurrent_chats)


def status_frame(*, agent_id: int, status: str, cap: int) -> dict:
    return {"type": "status", "agent_id": agent_id, "status": status, "cap": cap}


def own_chats(agent: Agent) -> list[dict]:
    """The agent's open chats, each with how many visitor messages they have not seen (one query)."""
    rows = (
        for_state(Conversation.objects.filter(assigned_agent=agent, status__in=Conversation.ACTIVE_STATUSES))
        .annotate(unread=Count("messages", filter=Q(messages__author=Message.Author.VISITOR,
                                                      messages__seq__gt=F("agent_seen_seq"))))
        .order_by("queued_at", "id")
    )
    return [{**state(conversation), "unread": conversation.unread, "pk": conversation.pk} for conversation in rows]


def welcome(agent: Agent, *, supervisor: bool) -> dict:
    agent.refresh_from_db(fields=["status", "max_concurrent_chats"])
    return {
        "type": "welcome",
        "agent": {"id": agent.pk, "name": agent.display_name, "role": agent.role, "supervisor": supervisor,
                  "status": agent.status, "cap": agent.max_concurrent_chats},
        "chats": own_chats(agent),
        "queue": queue_summary(),
    }


def queue_summary(now=None) -> dict:
    """Waiting chats in routing order: the count, the longest wait, per skill, and the first ones.

    Four queries whatever the queue's length: two aggregates (in all, per skill) and the first
    QUEUE_LIST_LIMIT chats with their skills; never the whole queue.
    """
    now = now or timezone.now()
    queued = Conversation.objects.filter(status=Status.QUEUED)
    since = Coalesce("queued_at", "created_at")

    def waited(start) -> int:
        return round((now - start).total_seconds()) if start is not None else 0

    totals = queued.aggregate(waiting=Count("pk"), oldest=Min(since),
                              unskilled=Count("pk", filter=Q(required_skills__isnull=True), distinct=True),
                              oldest_unskilled=Min(since, filter=Q(required_skills__isnull=True)))
    skills = Conversation.required_skills.through.objects.filter(conversation__status=Status.QUEUED)
    by_skill = [{"skill": slug, "waiting": count, "longest_wait_seconds": waited(oldest)} for slug, count, oldest in
                skills.values_list("skill__slug").annotate(count=Count("conversation_id"), oldest=Min(Coalesce(
                    "conversation__queued_at", "conversation__created_at"))).values_list("skill__slug", "count", "oldest")]
    if totals["unskilled"]:
        by_skill.append({"skill": None, "waiting": totals["unskilled"],
                         "longest_wait_seconds": waited(totals["oldest_unskilled"])})
    first = list(queued.select_related("site", "visitor", "topic").order_by("-priority", "queued_at", "id")
                 [:QUEUE_LIST_LIMIT])
    skills_of = defaultdict(list)
    for conversation_id, slug in skills.filter(conversation_id__in=[c.pk for c in first]).values_list(
            "conversation_id", "skill__slug"):
        skills_of[conversation_id].append(slug)
    return {
        "type": "queue",
        "waiting": totals["waiting"],
        "longest_wait_seconds": waited(totals["oldest"]),
        "by_skill": sorted(by_skill, key=lambda entry: entry["skill"] or ""),
        "chats": [
            {"conversation_id": str(c.public_id), "site": c.site.name, "site_id": c.site_id,
             "visitor_name": c.visitor.name,
             "topic": c.topic.label if c.topic else None, "skills": sorted(skills_of[c.pk]), "priority": c.priority,
             "waited_seconds": waited(c.queued_at or c.created_at)}
            for c in first
        ],
    }


def board(now=None) -> dict:
    """For supervisors: every agent (status, load against cap, console connected) and every open chat."""
    now = now or timezone.now()
    agents = list(Agent.objects.annotate(
        active=Count("conversations", filter=Q(conversations__status__in=Conversation.ACTIVE_STATUSES))
    ).order_by("display_name", "id"))
    connected = consoles.connected([a.pk for a in agents])
    replied = Message.objects.filter(author=Message.Author.AGENT, visibility=Message.Visibility.PUBLIC)
    replied_ids = set(replied.filter(conversation__status__in=Conversation.OPEN_STATUSES)
                      .values_list("conversation_id", flat=True).distinct())
    chats = list(for_state(Conversation.objects.filter(status__in=Conversation.OPEN_STATUSES))
                 .order_by("-priority", "queued_at", "id")[:BOARD_LIMIT])
    waits = [round((now - (c.queued_at or c.created_at)).total_seconds()) for c in chats if c.status == Status.QUEUED]
    return {
        "type": "board",
        "agents": [{"id": a.pk, "name": a.display_name, "role": a.role, "status": a.status, "active": a.active,
                    "cap": a.max_concurrent_chats, "connected": a.pk in connected} for a in agents],
        "conversations": [
            {**state(c, now), "waited_seconds": round((now - (c.queued_at or c.created_at)).total_seconds()),
             "agent_replied": c.pk in replied_ids,
             # In progress with an agent whose consoles are all gone (routing/grace.py keeps these).
             "agent_connected": (c.assigned_agent_id in connected) if c.assigned_agent_id else None}
            for c in chats
        ],
        "longest_wait_seconds": max(waits, default=0),
    }


def context(conversation: Conversation) -> dict:
    """The visitor behind a chat, the chat's recorded context and tags, and the visitor's earlier chats."""
    visitor = conversation.visitor
    earlier = (Conversation.objects.filter(visitor=visitor).exclude(pk=conversation.pk)
               .select_related("assigned_agent", "topic").order_by("-id")[:EARLIER_LIMIT])
    return {
        "type": "context",
        "conversation_id": str(conversation.public_id),
        "visitor": {"name": visitor.name, "email": visitor.email, "visits": visitor.visit_count,
                    "first_seen_at": visitor.first_seen_at.isoformat()},
        "context": conversation.context,
        "tags": sorted(conversation.tags.values_list("name", flat=True)),
        "earlier": [
            {"conversation_id": str(c.public_id), "status": c.status, "created_at": c.created_at.isoformat(),
             "closed_at": c.closed_at.isoformat() if c.closed_at else None,
             "agent_name": c.assigned_agent.display_name if c.assigned_agent else None,
             "topic": c.topic.label if c.topic else None, "messages": c.last_seq}
            for c in earlier
        ],
    }


def history(conversation_id: int, after_seq: int, agent: Agent, *, supervisor: bool,
            up_to: int | None = None) -> tuple[list[dict], int]:
    """The messages after a seq (up to up_to) this agent may read (public, notes, their whispers), as
    frames, oldest first, and the seq read to (hidden whispers included, so a replay from it does not
    read them again)."""
    messages = messages_after(conversation_id, after_seq, public_only=False, up_to=up_to)
    visible = [frame for frame in (frames.message_frame(m, m.conversation) for m in messages)
               if sees(agent, frame, supervisor=supervisor)]
    return visible, read_to(messages, after_seq, up_to)


def open_chats_of(agent_ids: list[int]) -> dict[int, list[tuple[str, int]]]:
    """Each agent's open chats as (public id, pk): what their consoles must be showing (one query)."""
    chats = defaultdict(list)
    for public_id, pk, agent_id in Conversation.objects.filter(
            assigned_agent_id__in=agent_ids, status__in=Conversation.ACTIVE_STATUSES).values_list("public_id", "pk", "assigned_agent_id"):
        chats[agent_id].append((str(public_id), pk))
    return chats


def site_ids() -> list[int]:
    return list(Site.objects.values_list("pk", flat=True))


def own_chat_ids(agent: Agent) -> list[int]:
    return list(Conversation.objects.filter(assigned_agent=agent, status__in=Conversation.ACTIVE_STATUSES).values_list("pk", flat=True))


# --- actions (each through the lifecycle or presence) -------------------------------------------

def take(agent: Agent, conversation: Conversation) -> None:
    """The agent picks a queued chat: assigned (cap-checked under the agent row lock) and accepted,
    in one transaction."""
    offers.assign(conversation_id=conversation.pk, agent_id=agent.pk, actor=lifecycle.Actor.of_agent(agent),
                  reason={"taken": True}, accept_now=True)


def canned_response(agent: Agent, canned_response_id: int | None) -> int | None:
    """The id of a canned response the agent may use (shared or their own)."""
    if canned_response_id is None:
        return None
    usable = CannedResponse.objects.filter(Q(owner__isnull=True) | Q(owner=agent), pk=canned_response_id).exists()
    if not usable:
        raise ConsoleError("not_found", "no such canned response", field="canned_response_id")
    return canned_response_id


def tag_named(site_id: int, name: str) -> Tag:
    tag = Tag.objects.filter(site_id=site_id, name=name.strip()).first()
    if tag is None:
        raise ConsoleError("unknown_tag", f"the site has no tag {name!r}", field="tag")
    return tag


def tags_named(site_id: int, names: list[str]) -> list[Tag]:
    wanted = {name.strip() for name in names}
    tags = list(Tag.objects.filter(site_id=site_id, name__in=wanted))
    missing = wanted - {tag.name for tag in tags}
    if missing:
        raise ConsoleError("unknown_tag", f"the site has no tag {sorted(missing)[0]!r}", field="tags")
    return tags


def transfer_target(frame: dict) -> dict:
    """The lifecycle.transfer_conversation keyword for a transfer frame's one target (the frame
    table has refused a transfer with none or two)."""
    name, model, keyword = next(target for target in (
        ("agent", Agent, "to_agent"), ("department", Department, "to_department"), ("skill", Skill, "to_skill"))
        if frame.get(target[0]) is not None)
    target = model.objects.filter(pk=frame[name]).first()
    if target is None:
        raise ConsoleError("not_found", f"no such {name}", field=name)
    return {keyword: target}


def reassign(supervisor: Agent, conversation: Conversation, agent_id: int) -> None:
    """A supervisor gives a chat to an agent: a queued one is assigned (accepted at once or offered, as
    its department does), an open one transferred; both cap-checked."""
    target = Agent.objects.filter(pk=agent_id).first()
    if target is None:
        raise ConsoleError("not_found", "no such agent", field="agent")
    actor = lifecycle.Actor.of_agent(supervisor)
    if conversation.status == Status.QUEUED:
        offers.assign(conversation_id=conversation.pk, agent_id=target.pk, actor=actor,
                      reason={"reassigned_by": supervisor.pk})
    else:
        lifecycle.transfer_conversation(conversation_id=conversation.pk, actor=actor, to_agent=target,
                                        note="reassigned by a supervisor")
