"""Commands of this group are registered here (being written)."""

import typer


def register(app: typer.Typer) -> None:
    return None
