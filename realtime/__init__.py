"""The ground floor of the live parts, knowing nothing of chats: our Redis keys and client, the
socket registry, strict frame parsing, rate limits (per socket and shared across processes),
where a socket's blocking work runs, and work done once per burst of changes. Every app above
builds on it; it imports none of them."""
