"""The wallboard's read-only WebSocket (`/ws/wallboard/`): a fresh snapshot whenever the floor changes.

Staff, superusers and supervisors only, signed in with the Django session, from pages of this
server (the console's origin validator). The client sends `hello` (and `ping`); the server answers
`welcome` and a `wallboard` frame (metrics.wallboard.snapshot), then forwards the snapshots sent
to the wallboards' group: computed once per burst of changes for every wallboard, at most one per
MIN_INTERVAL_SECONDS (metrics/subscribers.py). A slow periodic snapshot, asked of the same
producer, catches what publishes nothing (an agent's cap edited in the admin, a new site).
"""

import asyncio
import logging

from django.conf import settings

from console.consumers import CLOSE_NOT_AUTHENTICATED
from conversations.publish import wallboards_group
from conversations.sockets import FrameSocket
from metrics import subscribers, wallboard
from metrics.subscribers import MIN_INTERVAL_SECONDS
from realtime.framing import parse_frame as parse_with_table
from realtime.threads import db, in_thread

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4003
PERIODIC_SECONDS = 30.0
CLIENT_FRAMES = {"hello": {}, "ping": {}}


def parse_frame(raw):
    return parse_with_table(raw, CLIENT_FRAMES, max_bytes=4096)


class WallboardConsumer(FrameSocket):
    parse_frame = staticmethod(parse_frame)
    # One periodic request per process, however many wallboards it serves.
    open_sockets: set["WallboardConsumer"] = set()
    periodic_task: asyncio.Task | None = None

    async def connect(self):
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.refuse("not_authenticated", "sign in first", CLOSE_NOT_AUTHENTICATED)
        if not await db(wallboard.may_watch)(user):
            return await self.refuse("forbidden", "only supervisors and admins see the wallboard", CLOSE_FORBIDDEN)
        self.start_rate_limit(rate=2.0, burst=10, flood_close_after=50)

    async def disconnect(self, code):
        WallboardConsumer.open_sockets.discard(self)
        await self.leave_groups()

    async def on_hello(self, frame):
        if self.greeted:
            return await self.send_error("already_greeted", "hello is sent once per socket")
        # Join before the first read, so a snapshot of a change made meanwhile still comes.
        await self.join_group(wallboards_group())
        await in_thread(subscribers.mark_watched)()
        self.greeted = True
        await self.send_frame({"type": "welcome", "min_interval_seconds": MIN_INTERVAL_SECONDS,
                               "time_zone": settings.TIME_ZONE})
        try:
            await self.send_frame(await db(wallboard.snapshot)())
        except Exception:
            log.exception("wallboard snapshot failed")
        WallboardConsumer.open_sockets.add(self)
        task, loop = WallboardConsumer.periodic_task, asyncio.get_running_loop()
        if task is None or task.done() or task.get_loop() is not loop:
            WallboardConsumer.periodic_task = loop.create_task(self._periodic())

    async def conv_frame(self, event):
        if self.greeted and event["frame"].get("type") == "wallboard":
            await self.send_frame(event["frame"])

    @staticmethod
    async def _periodic():
        while WallboardConsumer.open_sockets:
            await asyncio.sleep(PERIODIC_SECONDS)
            await in_thread(subscribers.mark_watched)()
            subscribers.snapshots.request()
