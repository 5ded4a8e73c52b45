"""Regenerate the recipe field table in docs/recipes.md from the recipe schema."""

from pathlib import Path

from trtforge.recipe.fields_doc import BEGIN, END, render_fields_doc

doc = Path(__file__).resolve().parents[1] / "docs" / "recipes.md"
text = doc.read_text()
head, _, rest = text.partition(BEGIN)
_, _, tail = rest.partition(END)
doc.write_text(head + render_fields_doc() + tail)
print(f"updated {doc}")
