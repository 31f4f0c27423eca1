from django.contrib import admin

from metrics.models import DailyRollup


@admin.register(DailyRollup)
class DailyRollupAdmin(admin.ModelAdmin):
    """Read-only: rows are written by the rollup task and backfill_metrics, from the events."""

    list_display = ("day", "scope", "key", "chats", "ended", "closed", "missed", "abandoned", "sl_met",
                    "sl_eligible", "computed_at")
    list_filter = ("scope", "day")
    date_hierarchy = "day"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
