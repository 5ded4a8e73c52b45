"""docs/recipes.md documents every recipe field (generated section is current)."""

from pathlib import Path

from trtforge.recipe.fields_doc import BEGIN, END, field_rows, render_fields_doc

DOC = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"


def test_docs_field_table_is_current() -> None:
    text = DOC.read_text()
    section = BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END
    assert section == render_fields_doc(), "run: python scripts/gen_recipe_docs.py"


def test_every_field_has_a_description() -> None:
    missing = [p for p, _, _, m in field_rows() if not m]
    assert missing == []
