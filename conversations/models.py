import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from agents.models import Agent, Department, Skill
from conversations.hours import validate_business_hours
from conversations.networks import validate_network


class Site(models.Model):
    """A website that embeds the widget with its public key."""

    key = models.SlugField(max_length=64, unique=True, help_text="Public widget key (data-site).")
    name = models.CharField(max_length=100)
    allowed_origins = models.JSONField(
        default=list, blank=True,
        help_text='Page origins allowed to open the widget socket, e.g. ["https://shop.example"].',
    )
    team_email = models.EmailField(blank=True, help_text="Where offline messages are emailed.")
    business_hours = models.JSONField(
        default=dict, blank=True, validators=[validate_business_hours],
        help_text='Empty: always open. Else {"timezone": "Europe/Vilnius", "mon": [["09:00", "17:00"]], ...}.',
    )
    require_tag_on_close = models.BooleanField(default=False)
    required_skills = models.ManyToManyField(
        Skill, blank=True, related_name="+", help_text="Skills every chat on this site needs.",
    )
    queue_wait_limit_seconds = models.PositiveIntegerField(
        default=300, help_text="After this wait the visitor is offered the offline form."
    )
    # Post-chat survey (surveys/): CSAT 1-5 always; NPS and CES only when the site asks.
    ask_nps = models.BooleanField(default=False, help_text='Add "How likely are you to recommend us?" (0-10).')
    ask_ces = models.BooleanField(default=False, help_text='Add "It was easy to get my issue solved" (1-7).')
    survey_delay_minutes = models.PositiveSmallIntegerField(
        default=10, validators=[MaxValueValidator(24 * 60)],
        help_text="An unanswered survey is emailed this long after the chat ends (at most a day).",
    )
    queue_limit = models.PositiveIntegerField(
        default=200, validators=[MinValueValidator(1)],
        help_text="The most chats this site's queue holds; the next visitor is asked to leave a message.",
    )

    def __str__(self) -> str:
        return self.name


class Topic(models.Model):
    """A pre-chat topic; the chat it starts needs the topic's skills."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="topics")
    label = models.CharField(max_length=100)
    skills = models.ManyToManyField(Skill, blank=True)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.SET_NULL)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label


class PageRule(models.Model):
    """Chats started on matching pages need more skills, or come first (e.g. the checkout page)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="page_rules")
    url_contains = models.CharField(max_length=200, help_text='Matches when the page URL contains this, e.g. "/checkout".')
    skills = models.ManyToManyField(Skill, blank=True, related_name="+")
    priority = models.SmallIntegerField(default=0, help_text="The chat's priority is the highest of its matching rules.")

    def __str__(self) -> str:
        return f"URL contains {self.url_contains!r}"


class Tag(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=50)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="tag_name_once_per_site")]

    def __str__(self) -> str:
        return self.name


class Visitor(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="visitors")
    name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    visit_count = models.PositiveIntegerField(default=1)
    # The address of the visitor's latest widget socket: what a supervisor's network ban covers.
    last_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        indexes = [
            # Pruning: visitors last seen before the retention period (conversations/retention.py).
            models.Index(fields=["last_seen_at"], name="visitor_last_seen"),
        ]

    def __str__(self) -> str:
        return self.name or str(self.public_id)


class Ban(models.Model):
    """A visitor, or a network (an IP address or range), kept from chatting on a site.

    Written by conversations.bans.ban_visitor from the console, or in the admin; in force from
    created_at until expires_at (never, if empty) unless lifted first.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="bans")
    visitor = models.ForeignKey(Visitor, null=True, blank=True, on_delete=models.CASCADE, related_name="bans")
    network = models.CharField(
        max_length=49, blank=True, validators=[validate_network],
        help_text='An address or range in CIDR form, e.g. "203.0.113.7" or "203.0.113.0/24".',
    )
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until lifted.")
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(visitor__isnull=True, network=""), name="ban_names_someone"),
        ]

    def __str__(self) -> str:
        return f"ban of {self.network or self.visitor}"


class Conversation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        ASSIGNED = "assigned", "Assigned"
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"
        MISSED = "missed", "Missed"
        ABANDONED = "abandoned", "Abandoned"
        OFFLINE = "offline", "Offline message"

    OPEN_STATUSES = (Status.QUEUED, Status.ASSIGNED, Status.ACTIVE)
    ACTIVE_STATUSES = (Status.ASSIGNED, Status.ACTIVE)  # with an agent: each takes one of the agent's slots

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="conversations")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="conversations")
    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.SET_NULL)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.SET_NULL)
    required_skills = models.ManyToManyField(Skill, blank=True)
    priority = models.SmallIntegerField(default=0, help_text="Higher is served first.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    assigned_agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    # The last sequence number handed out; the next message takes last_seq + 1 under a row lock.
    last_seq = models.PositiveIntegerField(default=0)
    # The seq of the last message the visitor may see (internal notes and whispers are skipped): a
    # visitor's socket knows from it whether a message frame follows the one before it.
    last_public_seq = models.PositiveIntegerField(default=0)
    visitor_seen_seq = models.PositiveIntegerField(default=0)
    agent_seen_seq = models.PositiveIntegerField(default=0)
    context = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="conversations")
    created_at = models.DateTimeField(auto_now_add=True)
    # Kept on requeue so a chat sent back to the queue keeps its original place.
    queued_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Set by the one task run that emails the team about an offline message (claim, then send).
    team_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The queue: open chats by status, served by priority then waiting time.
            models.Index(fields=["status", "-priority", "queued_at"], name="conv_queue_order"),
            # A visitor's open conversation on reconnect, and their earlier chats.
            models.Index(fields=["visitor", "status"], name="conv_visitor_status"),
            # An agent's active chats (the cap count).
            models.Index(fields=["assigned_agent", "status"], name="conv_agent_status"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.visitor} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class Party(models.TextChoices):
    """Who writes a message or causes an event."""

    VISITOR = "visitor", "Visitor"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"


class Message(models.Model):
    Author = Party

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Visitor and agents"
        INTERNAL = "internal", "Agents only (note)"
        # A supervisor's live coaching for the assigned agent: staff only, never the visitor.
        WHISPER = "whisper", "Supervisor to agent (whisper)"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    client_id = models.CharField(max_length=64, null=True, blank=True)
    author = models.CharField(max_length=10, choices=Author.choices)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    # A whisper coaches the agent assigned when it was written: they and supervisors read it, nobody
    # else (not the agent the chat is transferred to next). Null for every other message.
    recipient = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField()
    # The canned response an agent started this reply from, so their use can be reported.
    canned_response = models.ForeignKey(
        "agents.CannedResponse", null=True, blank=True, on_delete=models.SET_NULL, related_name="uses",
    )

    class Meta:
        constraints = [
            # Also the index for replay: WHERE conversation_id = ? AND seq > ? ORDER BY seq.
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_once"),
            # A resent message finds its first copy instead of making a duplicate.
            models.UniqueConstraint(
                fields=["conversation", "client_id"], condition=models.Q(client_id__isnull=False),
                name="message_client_id_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}:{self.seq}"


class ConversationEvent(models.Model):
    """The audit log of a conversation: one row for every state change. Metrics replay these."""

    class Kind(models.TextChoices):
        QUEUED = "queued", "Queued"
        ASSIGNED = "assigned", "Assigned"
        ACCEPTED = "accepted", "Accepted"
        MESSAGE = "message", "Message"
        SEEN = "seen", "Seen"
        TRANSFERRED = "transferred", "Transferred"
        REQUEUED = "requeued", "Back to the queue"
        CLOSED = "closed", "Closed"
        MISSED = "missed", "Missed"
        ABANDONED = "abandoned", "Abandoned"
        OFFLINE_MESSAGE = "offline_message", "Offline message"
        CONTEXT = "context", "Visitor context updated"
        TAGGED = "tagged", "Tag added"
        UNTAGGED = "untagged", "Tag removed"
        WRAPUP = "wrapup", "Wrap-up started"
        RATED = "rated", "Rated by the visitor"
        TRANSCRIPT_REQUESTED = "transcript_requested", "Transcript requested"

    Actor = Party

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField()
    actor = models.CharField(max_length=10, choices=Actor.choices)
    actor_agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            # Metrics: every event of some kinds in a time range.
            models.Index(fields=["kind", "at"], name="event_kind_at"),
        ]
        # A conversation's history in order (the FK index plus id order).
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.kind} @ {self.at:%Y-%m-%d %H:%M:%S}"
