"""What a session's readers tell a person about lines of its log they could not read."""
from __future__ import annotations

from pathlib import Path

from .logfile import CORRUPT_SUFFIX, DamagedLine, set_aside
from .storage import LOG_NAME, AppendStorage


def unread_lines(storage: AppendStorage, folder: Path) -> tuple[int, str]:
    """How many lines this session's records could not be read from (damaged
    now, or set aside by an earlier open) and the sentence that says which and
    where their bytes are; (0, "") for a sound log."""
    if storage.damage:
        return len(storage.damage), damage_warning(storage.damage, storage.corrupt_file)
    corrupt = folder / (LOG_NAME + CORRUPT_SUFFIX)
    if not corrupt.is_file():
        return 0, ""
    count, where = set_aside(corrupt)
    where_text = f" ({'; '.join(where)})" if where else ""
    return max(count, 1), (f"{LOG_NAME}{CORRUPT_SUFFIX} holds unreadable lines set aside by an earlier open"
                           f"{where_text}: the records on them are not in the session")


def damage_warning(damage: list[DamagedLine], corrupt: Path | None, shown: int = 5) -> str:
    where = ", ".join(d.describe() for d in damage[:shown])
    if len(damage) > shown:
        where += f" and {len(damage) - shown} more"
    kept = (f"their bytes are kept in {corrupt.name}" if corrupt is not None
            else f"they stay in the log until a writer opens the session and moves them to {LOG_NAME}{CORRUPT_SUFFIX}")
    return (f"{LOG_NAME}: {len(damage)} unreadable line(s) skipped, every other record recovered: "
            f"{where}; {kept}")
