import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('agents', '0001_initial'),
        ('conversations', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='message',
            name='canned_response',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='uses', to='agents.cannedresponse'),
        ),
        migrations.AlterField(
            model_name='conversationevent',
            name='kind',
            field=models.CharField(choices=[('queued', 'Queued'), ('assigned', 'Assigned'), ('accepted', 'Accepted'), ('message', 'Message'), ('seen', 'Seen'), ('transferred', 'Transferred'), ('requeued', 'Back to the queue'), ('closed', 'Closed'), ('missed', 'Missed'), ('abandoned', 'Abandoned'), ('offline_message', 'Offline message'), ('context', 'Visitor context updated'), ('tagged', 'Tag added'), ('untagged', 'Tag removed'), ('wrapup', 'Wrap-up started')], max_length=20),
        ),
        migrations.AlterField(
            model_name='message',
            name='visibility',
            field=models.CharField(choices=[('public', 'Visitor and agents'), ('internal', 'Agents only (note)'), ('whisper', 'Supervisor to agent (whisper)')], default='public', max_length=10),
        ),
    ]
