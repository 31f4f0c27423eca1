from django.db import migrations, models
from django.db.models import Max, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def fill_last_public_seq(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    last_public = Message.objects.filter(conversation=OuterRef("pk"), visibility="public").order_by().values(
        "conversation").annotate(seq=Max("seq")).values("seq")
    Conversation.objects.filter(last_seq__gt=0).update(last_public_seq=Coalesce(Subquery(last_public), Value(0)))


class Migration(migrations.Migration):

    dependencies = [
        ("conversations", "0005_site_survey_settings_rated_events"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="last_public_seq",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(fill_last_public_seq, migrations.RunPython.noop),
    ]
