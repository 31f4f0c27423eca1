"""What every console shows of the whole floor: the queue summary (every console) and the board
(supervisors). Computed once per burst of changes in the process that made them and sent to the
group, so a change costs the same queries with one console open or fifty (realtime/bursts.py).

Requested by console/subscribers.py after every change of a chat's state or of an agent's status
or cap, and by the disconnect grace (routing.grace.tell_supervisors). A burst lost with its process
is caught by each process's delivery check, which compares every console's queue with the database.
"""

from console import workspace
from conversations.publish import consoles_group, publish_frames_on_commit, supervisors_group
from realtime.bursts import Burst

# Changes usually come in bursts (assign, accept, first message): wait this long to take them in one.
DELAY_SECONDS = 0.1


def send_floor() -> None:
    publish_frames_on_commit([(consoles_group(), workspace.queue_summary()), (supervisors_group(), workspace.board())])


floor = Burst("the consoles' queue and board", send_floor, delay=DELAY_SECONDS)
