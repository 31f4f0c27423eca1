from django.contrib import admin

from agents.models import Agent, AgentSkill, CannedResponse, Department, Skill


class AgentSkillInline(admin.TabularInline):
    model = AgentSkill
    extra = 0


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "role", "status", "max_concurrent_chats", "last_assigned_at"]
    list_filter = ["role", "status", "departments"]
    search_fields = ["display_name", "user__username", "user__email"]
    filter_horizontal = ["departments"]
    # Status and cap change through agents.presence so that routing and occupancy see every change.
    readonly_fields = ["status", "last_assigned_at"]
    inlines = [AgentSkillInline]


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "strategy", "accept_mode"]
    list_filter = ["strategy", "accept_mode"]
    search_fields = ["name"]


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ["shortcut", "title", "owner"]
    list_filter = ["owner"]
    search_fields = ["shortcut", "title", "text"]
