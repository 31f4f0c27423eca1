from django.db import models

from metrics import compute


class DailyRollup(models.Model):
    """One day's metrics tally (metrics/compute.py Tally) for one scope: the total, an agent, a
    department or a tag. Written only by metrics.rollup.rollup_day, which replaces a day's rows.

    `key` is the agent, department or tag id (0: the total, or chats without a department); it is
    not a foreign key, so a day's numbers stay as computed when an agent or tag is deleted.
    The columns are counts and sums; `sample_data` holds the duration samples (milliseconds) and
    survey scores as compute.Samples.to_bytes packs them, so days combine into weeks and months
    with exact medians and p90s.
    """

    class Scope(models.TextChoices):
        TOTAL = compute.TOTAL, "Total"
        AGENT = compute.AGENT, "Agent"
        DEPARTMENT = compute.DEPARTMENT, "Department"
        TAG = compute.TAG, "Tag"

    day = models.DateField()
    time_zone = models.CharField(max_length=64, help_text="The zone whose calendar day this is.")
    scope = models.CharField(max_length=10, choices=Scope.choices)
    key = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    chats = models.PositiveIntegerField(default=0)
    offline_messages = models.PositiveIntegerField(default=0)
    ended = models.PositiveIntegerField(default=0)
    closed = models.PositiveIntegerField(default=0)
    missed = models.PositiveIntegerField(default=0)
    abandoned = models.PositiveIntegerField(default=0)
    short_abandoned = models.PositiveIntegerField(default=0)
    sl_eligible = models.PositiveIntegerField(default=0)
    sl_met = models.PositiveIntegerField(default=0)
    handled_chats = models.PositiveIntegerField(default=0)
    transferred_chats = models.PositiveIntegerField(default=0)
    public_messages = models.PositiveIntegerField(default=0)
    agent_messages = models.PositiveIntegerField(default=0)
    canned_messages = models.PositiveIntegerField(default=0)
    fcr_eligible = models.PositiveIntegerField(default=0)
    fcr_met = models.PositiveIntegerField(default=0)
    online_seconds = models.FloatField(default=0)
    busy_seconds = models.FloatField(default=0)
    chat_seconds = models.FloatField(default=0)
    handled_segments = models.PositiveIntegerField(default=0)
    sample_data = models.BinaryField(default=bytes, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "scope", "key"], name="metrics_rollup_once_per_day_scope_key"),
        ]
        indexes = [
            # Reports over a range for one scope: WHERE scope = ? AND key = ? AND day BETWEEN ? AND ?
            models.Index(fields=["scope", "key", "day"], name="metrics_rollup_scope_key_day"),
        ]
        ordering = ["day", "scope", "key"]

    def __str__(self) -> str:
        return f"{self.day} {self.scope} {self.key}"

    TALLY_FIELDS = compute.COUNT_FIELDS

    @classmethod
    def from_tally(cls, tally: compute.Tally, **fields) -> "DailyRollup":
        return cls(**fields, **{name: getattr(tally, name) for name in cls.TALLY_FIELDS},
                   sample_data=tally.samples.to_bytes())

    def to_tally(self) -> compute.Tally:
        return compute.Tally(**{name: getattr(self, name) for name in self.TALLY_FIELDS},
                             samples=compute.Samples.from_bytes(bytes(self.sample_data)))


class WidgetLoad(models.Model):
    """One visitor socket greeted: a `hello` that succeeded (metrics.goals.record_widget_load).

    The denominator of visitor engagement (docs/metrics.md). `new_visit` is the hello's flag: the
    first hello of a browser session.
    """

    site = models.ForeignKey("conversations.Site", on_delete=models.CASCADE, related_name="+")
    # No database constraint: a visitor pruned for never chatting (conversations/retention.py) leaves
    # their loads behind, so past engagement keeps counting them as the distinct visitors they were.
    visitor = models.ForeignKey("conversations.Visitor", on_delete=models.DO_NOTHING, db_constraint=False,
                                related_name="widget_loads")
    at = models.DateTimeField()
    new_visit = models.BooleanField(default=False)

    class Meta:
        indexes = [
            # Engagement over a range: WHERE at >= ? AND at < ? (and site_id = ?).
            models.Index(fields=["at"], name="metrics_widgetload_at"),
        ]

    def __str__(self) -> str:
        return f"{self.visitor_id} @ {self.at:%Y-%m-%d %H:%M:%S}"


class VisitorGoal(models.Model):
    """A goal the site reported for a visitor (`chatdesk("goal", name, {value})`, the `goal` frame).

    Written only by metrics.goals.record_goal; a resend with the same client_id is the same goal.
    """

    site = models.ForeignKey("conversations.Site", on_delete=models.CASCADE, related_name="+")
    # Kept, like widget loads, when a visitor who never chatted is pruned.
    visitor = models.ForeignKey("conversations.Visitor", on_delete=models.DO_NOTHING, db_constraint=False,
                                related_name="goals")
    client_id = models.CharField(max_length=64)
    name = models.CharField(max_length=64)
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    at = models.DateTimeField()

    class Meta:
        constraints = [
            # A resent goal finds its first copy instead of counting twice.
            models.UniqueConstraint(fields=["visitor", "client_id"], name="metrics_goal_client_id_once"),
        ]
        indexes = [
            # Conversion: the goals of some visitors in a window, WHERE visitor_id IN (...) AND at BETWEEN.
            models.Index(fields=["visitor", "at"], name="metrics_goal_visitor_at"),
        ]

    def __str__(self) -> str:
        return f"{self.name} by {self.visitor_id} @ {self.at:%Y-%m-%d %H:%M:%S}"
