"""The agent console's HTTP side: the page itself, sign-in, and two small reads the socket does not carry.

The console is one page (agents/templates/agents/console.html) and plain JavaScript modules
(agents/static/agents/); everything live goes over the agent socket (docs/protocol.md, "Agent
console socket"). The page is rendered with what does not change during a shift: the agent, the
translated UI strings, canned responses, each site's tags, departments and skills. Two JSON reads
serve what the socket does not: agents with their current load (for a transfer) and the transcript
of a visitor's earlier chat.
"""

import uuid

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from agents.models import Agent, CannedResponse, Department, Skill
from console.workspace import is_supervisor, load_agent, sees
from conversations import frames
from conversations.models import Conversation, Site
from conversations.selectors import messages_after
from realtime.connections import consoles

LOGIN_URL = "/accounts/login/"

# Every string the console's JavaScript shows; {name}, {n}… are filled in by console.js.
UI_STRINGS = {
    "connecting": _("Connecting…"),
    "reconnecting": _("Connection lost. Reconnecting…"),
    "degraded": _("Connection to the server is degraded; messages may be delayed"),
    "signed_out": _("You are signed out. Reload the page to sign in again."),
    "online": _("Online"),
    "away": _("Away"),
    "offline": _("Offline"),
    "load": _("{n} of {cap} chats"),
    "my_chats": _("My chats"),
    "no_chats": _("No chats yet. New chats appear here."),
    "queue": _("Queue"),
    "queue_empty": _("Nobody is waiting."),
    "longest_wait": _("longest {t}"),
    "take": _("Take"),
    "take_chat": _("Take the chat with {name}"),
    "any_skill": _("any skill"),
    "accept": _("Accept"),
    "awaits_accept": _("waiting for you to accept"),
    "offer_text": _("The chat with {name} is yours once you accept it (Alt+A)."),
    "offer_left": _("{t} left"),
    "monitoring": _("Monitoring"),
    "visitor": _("Visitor"),
    "unread_n": _("{n} unread"),
    "waiting_for_reply": _("waiting {t}"),
    "select_chat": _("Choose a chat on the left, or take one from the queue."),
    "status_queued": _("Waiting in the queue"),
    "status_assigned": _("Assigned"),
    "status_active": _("Active"),
    "status_closed": _("Closed"),
    "status_missed": _("Missed"),
    "status_abandoned": _("Abandoned"),
    "with_agent": _("with {name}"),
    "unassigned": _("unassigned"),
    "reply": _("Reply"),
    "note": _("Note"),
    "whisper": _("Whisper"),
    "barge": _("Barge in"),
    "placeholder_reply": _("Write to {name}… (/ or # for canned responses)"),
    "placeholder_note": _("Internal note: only agents see it"),
    "placeholder_whisper": _("Whisper to {name}: the visitor never sees it"),
    "placeholder_barge": _("Write to the visitor as yourself"),
    "send": _("Send"),
    "sending": _("Sending…"),
    "not_sent": _("Not sent: {reason}"),
    "seen": _("Seen"),
    "delivered": _("Delivered"),
    "internal_note": _("Internal note"),
    "system": _("System"),
    "whisper_from": _("Whisper from {name}, never shown to the visitor"),
    "whisper_label": _("Whisper"),
    "typing": _("{name} is typing…"),
    "typing_preview": _("{name} is typing: {text}"),
    "chat_ended": _("This chat has ended."),
    "chat_moved": _("This chat is now with {name}."),
    "chat_requeued": _("This chat went back to the queue."),
    "dismiss": _("Dismiss"),
    "transfer": _("Transfer"),
    "close": _("Close chat"),
    "reassign": _("Reassign"),
    "monitor": _("Monitor"),
    "board": _("Board"),
    "console": _("Console"),
    "agents": _("Agents"),
    "open_chats": _("Open chats"),
    "connected": _("connected"),
    "disconnected": _("console closed"),
    "not_replied": _("no reply yet"),
    "details": _("Visitor"),
    "name": _("Name"),
    "email": _("Email"),
    "page": _("Current page"),
    "pages_visited": _("Pages visited"),
    "browser": _("Browser"),
    "os": _("Operating system"),
    "device": _("Device"),
    "language": _("Language"),
    "time_on_site": _("Time on site"),
    "visits": _("Visits"),
    "tags": _("Tags"),
    "add_tag": _("Add a tag"),
    "remove_tag": _("Remove tag {name}"),
    "no_tags": _("No tags yet."),
    "earlier": _("Earlier conversations"),
    "no_earlier": _("No earlier conversations."),
    "messages_n": _("{n} messages"),
    "transcript": _("Conversation of {date}"),
    "back": _("Back"),
    "loading": _("Loading…"),
    "transfer_title": _("Transfer the chat"),
    "transfer_to": _("Transfer to"),
    "to_agent": _("An agent"),
    "to_department": _("A department"),
    "to_skill": _("A skill"),
    "free_slots": _("{free} free of {cap}"),
    "transfer_note": _("Note for the next agent (optional)"),
    "cancel": _("Cancel"),
    "close_title": _("Close and wrap up"),
    "resolved": _("Was the problem resolved?"),
    "yes": _("Yes"),
    "no": _("No"),
    "summary": _("Summary (optional)"),
    "close_confirm": _("Close chat"),
    "reassign_title": _("Reassign to an agent"),
    "visitor_banned": _("The visitor is banned; their chat has ended."),
    "mute": _("Mute sounds"),
    "unmute": _("Turn sounds on"),
    "notifications": _("Enable notifications"),
    "new_chat_from": _("New chat from {name}"),
    "new_message_from": _("New message from {name}"),
    "sign_out": _("Sign out"),
    "shortcuts": _("Keyboard: Alt+1…9 or Ctrl+↑/↓ switch chats · Alt+A accepts · / or # canned responses · Esc closes lists"),
    "canned": _("Canned responses"),
    "no_canned": _("No canned response matches."),
    "err_generic": _("The server refused this: {code}"),
    "err_tag_required": _("This site needs at least one tag on every closed chat. Add a tag, then close."),
    "err_agent_at_capacity": _("That agent has no free chat slot."),
    "err_agent_unavailable": _("That agent is not online."),
    "err_forbidden": _("You may not do that in this chat."),
    "err_not_found": _("Not found."),
    "err_illegal_transition": _("The chat has changed meanwhile (it may have ended or moved)."),
    "err_unknown_tag": _("This site has no such tag."),
    "err_message_too_long": _("the message is too long"),
    "err_message_empty": _("the message is empty"),
    "err_rate_limited": _("Too fast; trying again."),
    "err_server_error": _("The server failed; try again."),
    "not_an_agent": _("This account has no agent profile. Ask an administrator to create one."),
}


@never_cache
@login_required(login_url=LOGIN_URL)
def console_page(request):
    agent = load_agent(request.user)
    if agent is None:
        return render(request, "agents/no_agent.html", status=403)
    supervisor = is_supervisor(agent)
    sites = list(Site.objects.prefetch_related("tags").order_by("name"))
    canned = CannedResponse.objects.filter(Q(owner__isnull=True) | Q(owner=agent)).order_by("shortcut", "id")
    config = {
        "agent": {"id": agent.pk, "name": agent.display_name, "supervisor": supervisor},
        "strings": {key: str(value) for key, value in UI_STRINGS.items()},
        # Keyed by the site_id of state frames (names need not be unique).
        "tags": {site.pk: sorted(tag.name for tag in site.tags.all()) for site in sites},
        "canned": [{"id": c.pk, "shortcut": c.shortcut, "title": c.title, "text": c.text, "own": c.owner_id is not None}
                   for c in canned],
        "departments": [{"id": d.pk, "name": d.name} for d in Department.objects.order_by("name")],
        "skills": [{"id": s.pk, "name": s.name} for s in Skill.objects.order_by("name")],
        "urls": {"agents": "/console/agents.json", "transcript": "/console/transcript/"},
    }
    return render(request, "agents/console.html", {"agent": agent, "supervisor": supervisor, "config": config})


def _agent_or_404(request) -> Agent:
    agent = load_agent(request.user)
    if agent is None:
        raise Http404("no agent profile")
    return agent


@never_cache
@require_GET
@login_required(login_url=LOGIN_URL)
def agents_json(request):
    """Every agent with status, open chats and cap: the transfer dialog shows who has room."""
    _agent_or_404(request)
    agents = list(Agent.objects.annotate(
        active=Count("conversations", filter=Q(conversations__status__in=Conversation.ACTIVE_STATUSES))
    ).order_by("display_name", "id"))
    connected = consoles.connected([a.pk for a in agents])
    return JsonResponse({"agents": [
        {"id": a.pk, "name": a.display_name, "status": a.status, "active": a.active, "cap": a.max_concurrent_chats,
         "connected": a.pk in connected}
        for a in agents
    ]})


@never_cache
@require_GET
@login_required(login_url=LOGIN_URL)
def transcript_json(request, public_id: uuid.UUID):
    """An earlier chat of a visitor, read-only: for supervisors, the chat's own agent, or an agent who has
    a chat with the same visitor now (that is how they reach it, from the visitor panel)."""
    agent = _agent_or_404(request)
    supervisor = is_supervisor(agent)
    conversation = (Conversation.objects.select_related("assigned_agent", "visitor", "topic")
                    .exclude(status=Conversation.Status.OFFLINE).filter(public_id=public_id).first())
    if conversation is None:
        raise Http404("no such conversation")
    allowed = (supervisor or conversation.assigned_agent_id == agent.pk
               or Conversation.objects.filter(visitor_id=conversation.visitor_id, assigned_agent=agent,
                                              status__in=Conversation.ACTIVE_STATUSES).exists())
    if not allowed:
        return JsonResponse({"code": "forbidden", "detail": "not your visitor"}, status=403)
    return JsonResponse({
        "conversation_id": str(conversation.public_id),
        "status": conversation.status,
        "created_at": conversation.created_at.isoformat(),
        "agent_name": conversation.assigned_agent.display_name if conversation.assigned_agent else None,
        "visitor_name": conversation.visitor.name,
        # A whisper was coaching for the agent it was written for: others read the rest of the chat.
        "messages": [frame for frame in (frames.message_frame(m, conversation)
                                         for m in messages_after(conversation.pk, 0, public_only=False))
                     if sees(agent, frame, supervisor=supervisor)],
    })


class ConsoleLoginView(auth_views.LoginView):
    template_name = "agents/login.html"
    redirect_authenticated_user = True
    next_page = "/console/"


class ConsoleLogoutView(auth_views.LogoutView):
    next_page = LOGIN_URL
