"""`trtforge validate` and `trtforge schema`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from trtforge.cli.render import emit_json, say, warn
from trtforge.errors import EXIT_INVALID


def validate(
    recipes: list[Path] = typer.Argument(..., help="Recipe files to check.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print {valid, errors[]} as JSON."),
) -> None:
    """Check recipes against the schema; exit 0 when all are valid, 2 otherwise (one line per problem)."""
    from trtforge.recipe.loader import (  # pydantic recipe models: ~0.2 s of start-up
        RecipeInvalid,
        load_recipe,
    )

    problems = []
    names = []
    for path in recipes:
        try:
            loaded = load_recipe(path)
            names.append(
                {"file": str(path), "name": loaded.recipe.name, "targets": len(loaded.recipe.all_targets)}
            )
        except RecipeInvalid as exc:
            problems.extend(exc.issues)
    if as_json:
        emit_json({"valid": not problems, "errors": [p.to_json() for p in problems], "recipes": names})
    else:
        for p in problems:
            warn(p.one_line())
        if not problems:
            for n in names:
                say(f"{n['file']}: ok ({n['name']}, {n['targets']} target{'s' if n['targets'] != 1 else ''})")
    if problems:
        raise typer.Exit(EXIT_INVALID)


def schema(
    output: Path = typer.Option(None, "--output", "-o", help="Write to a file instead of stdout."),
) -> None:
    """Print the recipe JSON Schema (for editor completion and validation)."""
    from trtforge.recipe.schema import Recipe  # pydantic recipe models: ~0.1 s of start-up

    doc = Recipe.model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "trtforge recipe"
    doc.setdefault("properties", {})["extends"] = {
        "type": "string",
        "description": "Path of a base recipe this one overlays (relative to this file).",
    }
    text = json.dumps(doc, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(schema)
