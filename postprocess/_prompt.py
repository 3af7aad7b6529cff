"""Text helpers the prompts share: clipping, and a transcript as the model reads it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_PROMPT_MESSAGE_CHARS = 1500


def clip(text: str | None, limit: int = MAX_PROMPT_MESSAGE_CHARS) -> str:
    """Trimmed, and cut to ``limit`` characters (the last one an ellipsis when cut)."""
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def transcript_text(transcript: Sequence[Mapping[str, Any]]) -> str:
    """One line a message, oldest first: ``[sent_at channel] Prospect|Rep: body``."""
    lines = []
    for m in transcript:
        who = "Prospect" if m.get("direction") == "inbound" else "Rep"
        lines.append(
            f"[{m.get('sent_at', '')} {m.get('channel', '')}] {who}: {clip(m.get('body'))}"
        )
    return "\n".join(lines) or "(no messages)"
