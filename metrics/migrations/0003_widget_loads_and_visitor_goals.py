import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0001_initial'),
        ('metrics', '0002_rollup_schedule'),
    ]

    operations = [
        migrations.CreateModel(
            name='VisitorGoal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('client_id', models.CharField(max_length=64)),
                ('name', models.CharField(max_length=64)),
                ('value', models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True)),
                ('at', models.DateTimeField()),
                ('site', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='conversations.site')),
                ('visitor', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='goals', to='conversations.visitor')),
            ],
            options={
                'indexes': [models.Index(fields=['visitor', 'at'], name='metrics_goal_visitor_at')],
                'constraints': [models.UniqueConstraint(fields=('visitor', 'client_id'), name='metrics_goal_client_id_once')],
            },
        ),
        migrations.CreateModel(
            name='WidgetLoad',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField()),
                ('new_visit', models.BooleanField(default=False)),
                ('site', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='conversations.site')),
                ('visitor', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='widget_loads', to='conversations.visitor')),
            ],
            options={
                'indexes': [models.Index(fields=['at'], name='metrics_widgetload_at')],
            },
        ),
    ]
