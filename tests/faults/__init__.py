"""Delivery under faults (issue 10, "Acked means delivered"): clients that follow docs/protocol.md to the
letter (clients.py), live servers a test may break (harness.py), chats driven through them while a fault
happens (scenarios.py), and one comparison of what was sent, acked, stored and shown (ledger.py).

Nothing here needs pytest or the Django settings: bench/faults.py runs the same scenarios at a larger size.
"""
