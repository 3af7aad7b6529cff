"""The one ``Migrations`` set every migration module registers into."""

from sqlite_utils import Migrations

migrations = Migrations("leadhook")


def in_list(values: tuple[str, ...]) -> str:
    """``('a', 'b')`` as the SQL list of a ``CHECK (column IN ...)``."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"
