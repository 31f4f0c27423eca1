"""The one comparison every fault test and the benchmark end with: what every tab sent, what the server
acked, what the database holds and what every tab shows.

Who must show what: every tab of a visitor, every public message of their chat; every tab of an agent,
every message (public and internal notes) of the chats assigned to them. A message the database holds
and a tab that should show it does not is lost, whether or not its sender saw the ack; "every acked
message shown" follows, since an acked message is a stored one (checked too).
"""

from collections import Counter
from dataclasses import dataclass, field

from tests.faults.clients import AgentTab, SocketClient, VisitorTab

DETAILS_SHOWN = 12


@dataclass(frozen=True)
class StoredMessage:
    seq: int
    client_id: str | None
    author: str
    visibility: str
    text: str


@dataclass
class Stored:
    """What the database holds about some conversations (read by harness.read_stored)."""

    messages: dict[str, list[StoredMessage]]  # conversation id -> rows in seq order
    status: dict[str, str]
    agent_of: dict[str, int | None]
    last_seq: dict[str, int]


@dataclass
class Tally:
    """Counts over every tab; `problems` lists what went wrong, a line each, for the report."""

    sent: int = 0  # messages written (client_ids)
    acked: int = 0
    unacked: int = 0  # written, never acked nor seen in a message frame (still in an outbox)
    refused: int = 0  # written and refused for good (an error without retry)
    stored: int = 0
    expected: int = 0  # (tab, message) pairs: each message once per tab that must show it
    shown: int = 0
    lost: int = 0  # stored messages that a tab which must show them never showed
    missed: int = 0  # (tab, message) pairs expected and not shown
    doubled: int = 0  # shown twice, stored twice, or acked with two seqs
    out_of_order: int = 0  # shown after a message with a higher seq
    wrong: int = 0  # acked with a seq the database gives another message, or shown with another text
    stale: int = 0  # a tab whose last state of a chat is not the chat's status in the database
    reconnects: int = 0
    problems: list[str] = field(default_factory=list)

    COLUMNS = ("sent", "acked", "unacked", "refused", "stored", "expected", "shown", "lost", "missed", "doubled",
               "out_of_order", "wrong", "stale", "reconnects")
    FAILURES = ("unacked", "refused", "lost", "doubled", "out_of_order", "wrong", "stale")

    @property
    def clean(self) -> bool:
        return not any(getattr(self, name) for name in self.FAILURES)

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.COLUMNS}

    def table(self) -> str:
        header = " | ".join(self.COLUMNS)
        return f"| {header} |\n|{'---|' * len(self.COLUMNS)}\n| " + " | ".join(
            str(value) for value in self.counts().values()) + " |"

    def report(self) -> str:
        lines = [self.table()]
        lines += self.problems[:DETAILS_SHOWN]
        if len(self.problems) > DETAILS_SHOWN:
            lines.append(f"... and {len(self.problems) - DETAILS_SHOWN} more")
        return "\n".join(lines)

    def problem(self, counter: str, amount: int, text: str) -> None:
        setattr(self, counter, getattr(self, counter) + amount)
        self.problems.append(text)


def compare(tabs: list[SocketClient], stored: Stored) -> Tally:
    tally = Tally()
    by_client_id = _check_stored(stored, tally)
    lost = set()
    for tab in tabs:
        _check_sent(tab, by_client_id, tally)
        for conversation_id, visible in expected_of(tab, stored).items():
            lost |= {(conversation_id, seq) for seq in _check_shown(tab, conversation_id, visible, tally)}
            _check_state(tab, conversation_id, stored, tally)
        tally.reconnects += max(0, tab.welcomes - 1)
    tally.lost = len(lost)
    return tally


def expected_of(tab: SocketClient, stored: Stored) -> dict[str, list[StoredMessage]]:
    """For each conversation the tab must show, the stored messages it must show."""
    if isinstance(tab, VisitorTab):
        if tab.visitor.conversation_id not in stored.messages:
            return {}
        return {tab.visitor.conversation_id: [m for m in stored.messages[tab.visitor.conversation_id]
                                              if m.visibility == "public"]}
    if isinstance(tab, AgentTab):
        return {cid: messages for cid, messages in stored.messages.items()
                if stored.agent_of[cid] == tab.agent.agent_id}
    raise TypeError(f"no rule for what a {type(tab).__name__} shows")


def _check_stored(stored: Stored, tally: Tally) -> dict[str, StoredMessage]:
    """Seqs 1..last_seq, one row each, one row per client_id."""
    by_client_id = {}
    for conversation_id, messages in stored.messages.items():
        tally.stored += len(messages)
        seqs = [m.seq for m in messages]
        if seqs != list(range(1, stored.last_seq[conversation_id] + 1)):
            tally.problem("wrong", 1, f"{conversation_id}: stored seqs {_ranges(seqs)}, last_seq "
                                      f"{stored.last_seq[conversation_id]}")
        for message in messages:
            if message.client_id is None:
                continue
            if message.client_id in by_client_id:
                tally.problem("doubled", 1, f"client_id {message.client_id} stored twice")
            by_client_id[message.client_id] = message
    return by_client_id


def _check_sent(tab: SocketClient, by_client_id: dict[str, StoredMessage], tally: Tally) -> None:
    tally.sent += len(tab.sent)
    tally.acked += len(tab.acks)
    if tab.outbox:
        tally.problem("unacked", len(tab.outbox), f"{tab.name}: {len(tab.outbox)} never acked "
                                                  f"(first {next(iter(tab.outbox))})")
    if tab.refused:
        tally.problem("refused", len(tab.refused), f"{tab.name}: refused {dict(Counter(tab.refused.values()))}")
    for client_id, first, other in tab.ack_conflicts:
        tally.problem("doubled", 1, f"{tab.name}: {client_id} acked with seq {first} and {other}")
    for client_id, seq in tab.acks.items():
        stored = by_client_id.get(client_id)
        if stored is None or stored.seq != seq:
            tally.problem("wrong", 1, f"{tab.name}: {client_id} acked as seq {seq}, stored as "
                                      f"{stored.seq if stored else 'nothing'}")


def _check_shown(tab: SocketClient, conversation_id: str, visible: list[StoredMessage], tally: Tally) -> list[int]:
    """Counts what the tab showed of the conversation; returns the seqs it should have and did not."""
    view = tab.views.get(conversation_id)
    shown = view.shown if view else []
    tally.expected += len(visible)
    tally.shown += len(shown)
    missing = sorted({m.seq for m in visible} - set(shown))
    if missing:
        tally.problem("missed", len(missing), f"{tab.name}: {conversation_id[:8]} never showed seqs "
                                              f"{_ranges(missing)} (shown to {view.shown_to if view else 0})")
    doubled = [seq for seq, times in Counter(shown).items() if times > 1]
    if doubled:
        tally.problem("doubled", len(doubled), f"{tab.name}: {conversation_id[:8]} showed twice {_ranges(doubled)}")
    late = [seq for position, seq in enumerate(shown) if seq < max(shown[:position], default=0)]
    if late:
        tally.problem("out_of_order", len(late), f"{tab.name}: {conversation_id[:8]} showed late {_ranges(late)}")
    texts = {m.seq: m.text for m in visible}
    wrong = [seq for seq in set(shown) if texts.get(seq) != view.texts[seq]]
    if wrong:
        tally.problem("wrong", len(wrong), f"{tab.name}: {conversation_id[:8]} showed seqs {_ranges(sorted(wrong))} "
                                           "with another text (or ones it may not see)")
    return missing


def _check_state(tab: SocketClient, conversation_id: str, stored: Stored, tally: Tally) -> None:
    view = tab.views.get(conversation_id)
    status = view.status if view else None
    if status != stored.status[conversation_id]:
        tally.problem("stale", 1, f"{tab.name}: {conversation_id[:8]} shows {status}, the database says "
                                  f"{stored.status[conversation_id]}")


def settled(tabs: list[SocketClient], stored: Stored) -> bool:
    """Every tab shows everything it must, with the current state: nothing more will change."""
    for tab in tabs:
        for conversation_id, visible in expected_of(tab, stored).items():
            view = tab.views.get(conversation_id)
            if view is None or view.status != stored.status[conversation_id]:
                return False
            if not {m.seq for m in visible} <= set(view.shown):
                return False
    return True


def _ranges(seqs: list[int]) -> str:
    """[1, 2, 3, 7, 9, 10] -> "1-3, 7, 9-10" """
    parts, start = [], None
    for position, seq in enumerate(seqs):
        if start is None:
            start = seq
        if position + 1 == len(seqs) or seqs[position + 1] != seq + 1:
            parts.append(str(start) if start == seq else f"{start}-{seq}")
            start = None
    return ", ".join(parts) or "none"
