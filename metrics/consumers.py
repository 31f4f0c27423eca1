"""The wallboard's read-only WebSocket (`/ws/wallboard/`): a fresh snapshot whenever the floor changes.

Staff, superusers and supervisors only, signed in with the Django session, from pages of this
server (the console's origin validator). The client sends `hello` (and `ping`); the server answers
`welcome` and a `wallboard` frame (metrics.wallboard.snapshot), then a new one after changes.

It listens where the console's board does: every site's staff group (each conversation state
change, offline messages included) and the supervisors' group (agents' status and connection
changes). However many changes arrive, a socket computes at most one snapshot per
MIN_INTERVAL_SECONDS; a change that comes sooner is folded into one trailing snapshot. A slow
periodic snapshot catches what publishes nothing (an agent's cap edited in the admin, a new site).
"""

import asyncio
import logging
import time

from django.conf import settings

from agents.consumers import CLOSE_NOT_AUTHENTICATED
from agents.console import site_ids
from conversations.framing import parse_frame as parse_with_table
from conversations.publish import site_staff_group, supervisors_group
from conversations.sockets import FrameSocket
from conversations.threads import db
from metrics import wallboard

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4003
MIN_INTERVAL_SECONDS = 1.0
# Changes usually come in bursts (assign, accept, first message): wait this long to take them in one.
COALESCE_SECONDS = 0.15
PERIODIC_SECONDS = 30.0
CLIENT_FRAMES = {"hello": {}, "ping": {}}


def parse_frame(raw):
    return parse_with_table(raw, CLIENT_FRAMES, max_bytes=4096)


class WallboardConsumer(FrameSocket):
    parse_frame = staticmethod(parse_frame)
    refresh_task = None
    periodic_task = None
    last_sent = 0.0
    changed = False  # a change arrived while a snapshot was being read

    async def connect(self):
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.refuse("not_authenticated", "sign in first", CLOSE_NOT_AUTHENTICATED)
        if not await db(wallboard.may_watch)(user):
            return await self.refuse("forbidden", "only supervisors and admins see the wallboard", CLOSE_FORBIDDEN)
        self.start_rate_limit(rate=2.0, burst=10, flood_close_after=50)

    async def disconnect(self, code):
        for task in (self.refresh_task, self.periodic_task):
            if task is not None:
                task.cancel()
        await self.leave_groups()

    async def on_hello(self, frame):
        if self.greeted:
            return await self.send_error("already_greeted", "hello is sent once per socket")
        # Join before the first read, so a change made meanwhile still brings a new snapshot.
        for group in [site_staff_group(pk) for pk in await db(site_ids)()] + [supervisors_group()]:
            await self.join_group(group)
        self.greeted = True
        await self.send_frame({"type": "welcome", "min_interval_seconds": MIN_INTERVAL_SECONDS,
                               "time_zone": settings.TIME_ZONE})
        await self._send_snapshot()
        self.periodic_task = asyncio.create_task(self._periodic())

    # --- channel layer events: any change means "read the floor again" -------------------------

    async def conv_frame(self, event):
        if event.get("frame", {}).get("type") == "state":
            self._schedule()

    async def console_refresh(self, event):
        self._schedule()

    # --- snapshots ------------------------------------------------------------------------------

    def _schedule(self):
        if not self.greeted:
            return
        if self.refresh_task is not None and not self.refresh_task.done():
            self.changed = True  # read again after the pending snapshot, which may have read already
            return
        delay = max(COALESCE_SECONDS, self.last_sent + MIN_INTERVAL_SECONDS - time.monotonic())
        self.refresh_task = asyncio.create_task(self._refresh(delay))

    async def _refresh(self, delay):
        await asyncio.sleep(delay)
        self.changed = False  # from here on the read below sees every change already committed
        await self._send_snapshot()
        if self.changed:
            self.changed = False
            asyncio.get_running_loop().call_soon(self._schedule)

    async def _periodic(self):
        while True:
            await asyncio.sleep(PERIODIC_SECONDS)
            self._schedule()

    async def _send_snapshot(self):
        self.last_sent = time.monotonic()
        try:
            await self.send_frame(await db(wallboard.snapshot)())
        except Exception:
            log.exception("wallboard snapshot failed")
