"""DailyRollup.samples (JSON, seconds) becomes sample_data (packed integers, milliseconds).

The stored numbers are converted, not recomputed, so reports read the same days from the rollup
before and after (rounded to the millisecond, as compute.Samples keeps them now).
"""

import sys
from array import array

from django.db import migrations, models

# compute.SAMPLE_NAMES when this migration was written; the packed layout follows this order.
SAMPLE_NAMES = ("first_response", "wait", "handle", "wrapup", "resolution", "csat", "nps", "ces")
DURATION_NAMES = SAMPLE_NAMES[:5]


def pack(samples: dict) -> bytes:
    """The layout of compute.Samples.to_bytes: int32 counts, then the values as int32 or int64."""
    values = [sorted(round(v * 1000) if name in DURATION_NAMES else int(v) for v in samples.get(name, []))
              for name in SAMPLE_NAMES]
    flat = [x for v in values for x in v]
    header = array("i", [len(v) for v in values])
    body = array("i" if all(-2**31 <= x < 2**31 for x in flat) else "q", flat)
    if sys.byteorder == "big":  # pragma: no cover - the stored form is little-endian
        header.byteswap()
        body.byteswap()
    return header.tobytes() + body.tobytes()


def convert(apps, schema_editor):
    DailyRollup = apps.get_model("metrics", "DailyRollup")
    for row in DailyRollup.objects.only("pk", "samples").iterator(chunk_size=2000):
        DailyRollup.objects.filter(pk=row.pk).update(sample_data=pack(row.samples or {}))


class Migration(migrations.Migration):
    dependencies = [("metrics", "0003_widget_loads_and_visitor_goals")]

    operations = [
        migrations.AddField(model_name="dailyrollup", name="sample_data",
                            field=models.BinaryField(blank=True, default=bytes)),
        migrations.RunPython(convert, migrations.RunPython.noop),
        migrations.RemoveField(model_name="dailyrollup", name="samples"),
    ]
