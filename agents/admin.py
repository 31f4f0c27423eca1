from django.contrib import admin

from agents import presence, services
from agents.models import Agent, AgentSkill, CannedResponse, Department, Skill
from agents.permissions import agent_of


class AgentSkillInline(admin.TabularInline):
    model = AgentSkill
    extra = 0


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "role", "status", "max_concurrent_chats", "last_assigned_at"]
    list_filter = ["role", "status", "departments"]
    search_fields = ["display_name", "user__username", "user__email"]
    filter_horizontal = ["departments"]
    # Status and cap change through agents.presence so that routing and occupancy see every change:
    # status with the actions below, the cap in save_model.
    readonly_fields = ["status", "status_changed_at", "last_assigned_at", "missed_offers_in_a_row"]
    inlines = [AgentSkillInline]
    actions = ["set_online", "set_away", "set_offline"]

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Only the fields this form changed: a full save would write back a status or cap that
        # presence changed since the form was loaded.
        columns = {field.name for field in Agent._meta.concrete_fields} - {"max_concurrent_chats"}
        changed = [name for name in form.changed_data if name in columns]
        if changed:
            obj.save(update_fields=changed)
        if "max_concurrent_chats" in form.changed_data:
            presence.set_agent_cap(obj, form.cleaned_data["max_concurrent_chats"], by=agent_of(request.user))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.route_everywhere_after_commit()  # departments or skills may now match waiting chats

    @admin.action(description="Set the selected agents online")
    def set_online(self, request, queryset):
        self._set_status(request, queryset, Agent.Status.ONLINE)

    @admin.action(description="Set the selected agents away")
    def set_away(self, request, queryset):
        self._set_status(request, queryset, Agent.Status.AWAY)

    @admin.action(description="Set the selected agents offline")
    def set_offline(self, request, queryset):
        self._set_status(request, queryset, Agent.Status.OFFLINE)

    def _set_status(self, request, queryset, status: str) -> None:
        by = agent_of(request.user)
        agents = list(queryset)
        for agent in agents:
            presence.set_agent_status(agent, status, by=by)
        self.message_user(request, f"{len(agents)} agent(s) set {status}.")


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "language"]
    search_fields = ["name", "slug", "language"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "strategy", "accept_mode", "offer_timeout_seconds"]
    list_filter = ["strategy", "accept_mode"]
    search_fields = ["name"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.route_everywhere_after_commit()  # new routing settings apply to the waiting chats now


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ["shortcut", "title", "owner"]
    list_filter = ["owner"]
    search_fields = ["shortcut", "title", "text"]
