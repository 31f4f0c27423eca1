from django.contrib import admin

from surveys.models import Survey, SurveyResponse, TranscriptRequest


@admin.register(SurveyResponse)
class SurveyResponseAdmin(admin.ModelAdmin):
    list_display = ("conversation", "csat", "nps", "ces", "channel", "created_at")
    list_filter = ("channel", "csat")
    readonly_fields = [f.name for f in SurveyResponse._meta.fields]

    def has_add_permission(self, request):
        return False  # answers come only from visitors, through the lifecycle


@admin.register(Survey, TranscriptRequest)
class EmailRowAdmin(admin.ModelAdmin):
    list_display = ("conversation", "email", "created_at", "emailed_at")
    readonly_fields = ("conversation", "email", "language", "created_at", "emailed_at")

    def has_add_permission(self, request):
        return False
