import pytest


@pytest.fixture
def queue_frames(monkeypatch):
    """The queue frames routing passes publish, as (group, frame) pairs, instead of sending them."""
    from agents import dispatch

    sent = []
    monkeypatch.setattr(dispatch, "_publish_frames", sent.extend)
    return sent
