"""Shipped Triton python model (see model.py)."""
