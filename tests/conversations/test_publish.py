"""Frames go out after the commit, in order, never for a rolled-back change, and one failed send
does not stop the others (the channel layer is the real Redis one; only its send is watched)."""

import logging

import pytest
from channels.layers import get_channel_layer
from django.db import transaction

from conversations.publish import publish_frames_on_commit, publish_on_commit

pytestmark = pytest.mark.django_db


def test_frames_go_after_the_commit_in_the_order_published(sent_frames, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        publish_on_commit(["visitor.1", "conv.1.staff"], {"type": "state", "n": 1})
        publish_frames_on_commit([("visitor.2", {"type": "queue", "position": 1}),
                                  ("visitor.3", {"type": "queue", "position": 2})])
        assert sent_frames == []  # not before the commit
    assert sent_frames == [
        ("visitor.1", {"type": "state", "n": 1}), ("conv.1.staff", {"type": "state", "n": 1}),
        ("visitor.2", {"type": "queue", "position": 1}), ("visitor.3", {"type": "queue", "position": 2}),
    ]


def test_a_rolled_back_change_sends_nothing(sent_frames, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            publish_on_commit(["visitor.1"], {"type": "state", "n": 1})
            raise RuntimeError("the write failed")
        publish_on_commit(["visitor.1"], {"type": "state", "n": 2})
    assert sent_frames == [("visitor.1", {"type": "state", "n": 2})]


def test_a_failed_send_is_logged_and_the_frames_after_it_still_go(
        sent_frames, monkeypatch, caplog, django_capture_on_commit_callbacks):
    layer = get_channel_layer()
    recorded_send = layer.group_send

    async def refuse_one_group(group, message):
        if group == "visitor.broken":
            raise ConnectionError("Redis went away")
        await recorded_send(group, message)

    monkeypatch.setattr(layer, "group_send", refuse_one_group)
    with caplog.at_level(logging.WARNING, logger="conversations.publish"):
        with django_capture_on_commit_callbacks(execute=True):
            publish_on_commit(["visitor.1", "visitor.broken", "visitor.2"], {"type": "state", "n": 1})
    assert [group for group, _ in sent_frames] == ["visitor.1", "visitor.2"]
    assert "channel layer send to visitor.broken failed" in caplog.text
