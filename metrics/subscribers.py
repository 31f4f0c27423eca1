"""The wallboard's snapshot, computed once per burst of changes in the process that made them and
sent to every wallboard socket (realtime/bursts.py): the same reads with one wallboard open or
fifty, and none while no wallboard is open anywhere. A change reaches it through the subscriptions
of reactions/subscriptions.py."""

import logging

import redis

from realtime import redis_keys
from console.subscribers import FLOOR_TOPICS
from realtime.bursts import Burst
from conversations.publish import publish_frames_on_commit, wallboards_group
from metrics import wallboard
from reactions.subscriptions import subscribe

# However many changes arrive, at most one snapshot this often; a change sooner joins the next one.
MIN_INTERVAL_SECONDS = 1.0
# Changes usually come in bursts (assign, accept, first message): wait this long to take them in one.
COALESCE_SECONDS = 0.15


# Set by every process that serves a wallboard, again before it lapses (metrics/consumers.py).
WATCHED_SECONDS = 90

log = logging.getLogger(__name__)


def _watched_key() -> str:
    return redis_keys.key("wallboards", "watched")


def mark_watched() -> None:
    try:
        redis_keys.client().set(_watched_key(), 1, ex=WATCHED_SECONDS)
    except redis.RedisError:  # meanwhile `watched` says yes
        log.warning("no Redis to mark the wallboards watched", exc_info=True)


def watched() -> bool:
    """Whether a wallboard is open in any process; without Redis, say yes (a snapshot too many)."""
    try:
        return bool(redis_keys.client().exists(_watched_key()))
    except redis.RedisError:
        log.warning("no Redis to tell whether a wallboard is open: taking a snapshot", exc_info=True)
        return True


def send_snapshot() -> None:
    if watched():
        publish_frames_on_commit([(wallboards_group(), wallboard.snapshot())])


snapshots = Burst("the wallboard snapshot", send_snapshot, delay=COALESCE_SECONDS,
                  min_interval=MIN_INTERVAL_SECONDS)


@subscribe(*FLOOR_TOPICS, after_commit=True)
def refresh_the_wallboards(change) -> None:
    snapshots.request()
