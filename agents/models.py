from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Skill(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)

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

    def __str__(self) -> str:
        return self.display_name


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
