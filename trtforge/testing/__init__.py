"""Test helpers that ship with trtforge: tiny seeded models for CI, tests and the quick start."""
