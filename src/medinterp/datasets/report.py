"""What a reader read and what it skipped on purpose: never drop a file silently."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ReadReport:
    dataset: str
    images_read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, path: str | Path, reason: str) -> None:
        self.skipped.append((str(path), reason))

    def skipped_by_reason(self) -> dict[str, int]:
        """Counts per reason; a parenthesised detail ("truncated image (JPEG data ends early)") is folded away."""
        return dict(sorted(Counter(reason.split(" (")[0] for _, reason in self.skipped).items()))

    def summary(self) -> dict:
        return {
            "images_read": self.images_read,
            "skipped": len(self.skipped),
            "skipped_by_reason": self.skipped_by_reason(),
        }
