import time


class TokenBucket:
    """Allows `burst` frames at once and `rate` frames per second after that."""

    def __init__(self, *, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.updated = float(burst), clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def retry_after_ms(self) -> int:
        return int((1 - self.tokens) / self.rate * 1000) + 1
