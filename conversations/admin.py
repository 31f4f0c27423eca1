from django.contrib import admin, messages

from conversations import bans, lifecycle
from conversations.lifecycle import Actor, LifecycleError
from conversations.models import Ban, Conversation, ConversationEvent, Message, PageRule, Site, Tag, Topic, Visitor


class TopicInline(admin.TabularInline):
    model = Topic
    extra = 0
    filter_horizontal = ["skills"]


class PageRuleInline(admin.TabularInline):
    model = PageRule
    extra = 0
    filter_horizontal = ["skills"]


class TagInline(admin.TabularInline):
    model = Tag
    extra = 0


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "team_email", "require_tag_on_close", "queue_wait_limit_seconds", "queue_limit"]
    search_fields = ["name", "key"]
    filter_horizontal = ["required_skills"]
    inlines = [TopicInline, PageRuleInline, TagInline]


@admin.register(Ban)
class BanAdmin(admin.ModelAdmin):
    """Bans are made from the console (a visitor, from their chat) or here (an address or range);
    a ban is never edited, only lifted, so what was in force when stays on record."""

    list_display = ["__str__", "site", "reason", "created_by", "created_at", "expires_at", "lifted_at"]
    list_filter = ["site"]
    search_fields = ["network", "reason", "visitor__public_id", "visitor__name"]
    fields = ["site", "network", "reason", "expires_at"]
    actions = ["lift"]

    def has_change_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "network" in form.base_fields:  # absent from the read-only view of a ban
            form.base_fields["network"].required = True  # a visitor is banned from their chat in the console
        return form

    def save_model(self, request, obj, form, change):
        agent = getattr(request.user, "agent", None)
        obj.pk = bans.ban_network(site_id=obj.site_id, network=obj.network, reason=obj.reason,
                                  expires_at=obj.expires_at,
                                  actor=Actor.of_agent(agent) if agent else Actor.system()).pk

    @admin.action(description="Lift the selected bans")
    def lift(self, request, queryset):
        for ban in queryset:
            bans.lift_ban(ban_id=ban.pk)
        self.message_user(request, f"Lifted {queryset.count()} ban(s).", messages.SUCCESS)


@admin.register(Visitor)
class VisitorAdmin(admin.ModelAdmin):
    list_display = ["__str__", "email", "site", "visit_count", "first_seen_at", "last_seen_at"]
    list_filter = ["site"]
    search_fields = ["name", "email", "public_id"]
    readonly_fields = ["public_id", "first_seen_at", "last_seen_at", "visit_count"]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ["seq", "author", "agent", "visibility", "text", "created_at"]
    ordering = ["seq"]


class EventInline(ReadOnlyInline):
    model = ConversationEvent
    fields = ["at", "kind", "actor", "actor_agent", "details"]


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Read-only view of a chat and its history; state changes go through the lifecycle (actions)."""

    list_display = ["pk", "site", "visitor", "status", "assigned_agent", "priority", "queued_at", "closed_at"]
    list_filter = ["status", "site", "assigned_agent", "tags"]
    search_fields = ["visitor__name", "visitor__email", "public_id"]
    date_hierarchy = "created_at"
    inlines = [MessageInline, EventInline]
    actions = ["close_selected"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Close the selected open conversations")
    def close_selected(self, request, queryset):
        agent = getattr(request.user, "agent", None)
        actor = Actor.of_agent(agent) if agent else Actor.system()
        closed = 0
        for conversation_id in queryset.filter(status__in=Conversation.OPEN_STATUSES).values_list("pk", flat=True):
            try:
                lifecycle.close_conversation(conversation_id=conversation_id, actor=actor)
                closed += 1
            except LifecycleError as error:
                self.message_user(request, f"#{conversation_id}: {error}", messages.WARNING)
        self.message_user(request, f"Closed {closed} conversation(s).")
