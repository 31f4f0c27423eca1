from django.contrib import admin, messages
from django.db.models import Q

from reactions import dispatcher
from reactions.models import PENDING, Reaction


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"
    STATES = {
        "pending": PENDING,
        "retrying": PENDING & ~Q(last_error=""),
        "failed": Q(failed_at__isnull=False),
        "done": Q(done_at__isnull=False),
    }

    def lookups(self, request, model_admin):
        return [(state, state) for state in self.STATES]

    def queryset(self, request, queryset):
        return queryset.filter(self.STATES[self.value()]) if self.value() else queryset


@admin.register(Reaction)
class ReactionAdmin(admin.ModelAdmin):
    """Read-only: rows are written by reactions.schedule and the dispatcher. An operator sees what
    is pending or failed, and can give failed ones another run."""

    list_display = ["kind", "key", "state", "due_at", "attempts", "lease_until", "done_at", "failed_at"]
    list_filter = [StateFilter, "kind"]
    search_fields = ["key"]
    ordering = ["-due_at"]
    readonly_fields = [field.name for field in Reaction._meta.fields]
    actions = ["retry_failed"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Run the selected failed reactions again")
    def retry_failed(self, request, queryset):
        count = dispatcher.retry(queryset.values_list("id", flat=True))
        self.message_user(request, f"{count} failed reaction(s) will run again.", messages.SUCCESS)
