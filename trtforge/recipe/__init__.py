"""Recipes: the YAML a user writes, validated into a `Recipe`."""

from trtforge.recipe.loader import LoadedRecipe, RecipeInvalid, RecipeIssue, load_recipe, recipe_fingerprint
from trtforge.recipe.schema import Recipe, Target, target_label

__all__ = [
    "LoadedRecipe",
    "Recipe",
    "RecipeInvalid",
    "RecipeIssue",
    "Target",
    "load_recipe",
    "recipe_fingerprint",
    "target_label",
]
