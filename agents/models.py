from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Skill(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    language = models.CharField(
        max_length=35, blank=True,
        help_text='A language code ("lt", "zh"): chats of visitors whose browser language starts with it need this skill.',
    )

    def __str__(self) -> str:
        return self.name


class Department(models.Model):
    class Strategy(models.TextChoices):
        BEST_SKILL = "best_skill", "Highest proficiency, then least busy, then longest idle"
        ROUND_ROBIN = "round_robin", "Round robin"
        LEAST_BUSY = "least_busy", "Least busy"
        LONGEST_IDLE = "longest_idle", "Longest idle"

    class AcceptMode(models.TextChoices):
        AUTO = "auto", "Auto-accept"
        OFFER = "offer", "Offer and accept"

    name = models.CharField(max_length=100, unique=True)
    strategy = models.CharField(max_length=20, choices=Strategy.choices, default=Strategy.BEST_SKILL)
    accept_mode = models.CharField(max_length=10, choices=AcceptMode.choices, default=AcceptMode.AUTO)
    # Routing and its timed widening (routing/decisions.py, docs/routing.md). Empty: never widen that way.
    min_proficiency = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="At first a chat waits for agents with at least this proficiency in each required skill.",
    )
    lower_proficiency_after_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="After this wait, any proficiency in the required skills will do.",
    )
    any_agent_after_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="After this wait, any agent of the department will do.",
    )
    fallback_department = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Whose agents may take this department's chats after fallback_after_seconds.",
    )
    fallback_after_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Offer and accept (routing/offers.py): an offer not accepted in this time goes to the next agent.
    offer_timeout_seconds = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1)],
        help_text="With offer and accept: seconds an agent has to accept an offered chat.",
    )

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    class Status(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"
        OFFLINE = "offline", "Offline"

    class Role(models.TextChoices):
        AGENT = "agent", "Agent"
        SUPERVISOR = "supervisor", "Supervisor"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent")
    display_name = models.CharField(max_length=100)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.AGENT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OFFLINE)
    max_concurrent_chats = models.PositiveSmallIntegerField(default=3)
    departments = models.ManyToManyField(Department, blank=True, related_name="agents")
    skills = models.ManyToManyField(Skill, through="AgentSkill", blank=True, related_name="agents")
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    # Set with status by agents.presence; "longest idle" routing counts from it.
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # Offers this agent let expire since their last accept (agents.presence, in the transaction of
    # lifecycle.expire_offer); at presence.MISSED_OFFERS_BEFORE_AWAY the agent is set away and the count starts again. Each miss is
    # also a `requeued` ConversationEvent with reason "offer_timeout".
    missed_offers_in_a_row = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_supervisor(self) -> bool:
        """Supervisors watch, whisper, barge in, reassign and ban; a superuser may do all of that too."""
        return self.role == self.Role.SUPERVISOR or self.user.is_superuser


class AgentStatusEvent(models.Model):
    """One row per status or cap change of an agent (agents.presence). Occupancy replays these."""

    class Kind(models.TextChoices):
        STATUS = "status", "Status changed"
        CAP = "cap", "Cap changed"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="status_events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField()
    # The agent's state after the change, and what it was before.
    status = models.CharField(max_length=10, choices=Agent.Status.choices)
    max_concurrent_chats = models.PositiveSmallIntegerField()
    previous = models.CharField(max_length=10)
    changed_by = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [
            # Occupancy: one agent's changes in a time range, in order.
            models.Index(fields=["agent", "at"], name="agent_status_event_agent_at"),
            # Metrics over every agent for a period.
            models.Index(fields=["at"], name="agent_status_event_at"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.kind} {self.previous}→{self.status if self.kind == 'status' else self.max_concurrent_chats}"


class RoutingEvent(models.Model):
    """What routing did to a waiting chat besides assigning it: widened its search, estimated its wait.

    The assignment itself is a ConversationEvent with the routing reason in its details.
    """

    class Kind(models.TextChoices):
        WIDENED = "widened", "Search widened"
        ESTIMATE = "estimate", "Wait estimated"
        OFFLINE_OFFERED = "offline", "Offline form offered (waited past the site's limit)"

    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE,
                                     related_name="routing_events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField()
    # widened: the new stage number (routing.decisions.Stage); estimate: 0.
    stage = models.PositiveSmallIntegerField(default=0)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            # A widening is recorded once even when two routing passes see it at the same time.
            models.UniqueConstraint(fields=["conversation", "kind", "stage"], condition=models.Q(kind="widened"),
                                    name="routing_widened_once"),
            # The offline form is offered once per chat: the sweep that inserts the row sends the frame.
            models.UniqueConstraint(fields=["conversation", "kind"], condition=models.Q(kind="offline"),
                                    name="routing_offline_offered_once"),
        ]
        indexes = [
            # Estimate accuracy reports: every event of a kind in a time range.
            models.Index(fields=["kind", "at"], name="routing_event_kind_at"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.kind} {self.stage}"


class AgentSkill(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="agent_skills")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE)
    proficiency = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "skill"], name="agent_skill_once"),
            models.CheckConstraint(
                condition=models.Q(proficiency__gte=1, proficiency__lte=5), name="proficiency_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent} · {self.skill} ({self.proficiency})"


class CannedResponse(models.Model):
    """A reply template; shared when owner is empty, personal otherwise."""

    owner = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="canned_responses")
    shortcut = models.SlugField(max_length=50)
    title = models.CharField(max_length=100)
    text = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "shortcut"], name="canned_shortcut_once")]

    def __str__(self) -> str:
        return f"/{self.shortcut}"
