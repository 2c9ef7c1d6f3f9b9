"""Synthetic defects with exact masks (no Qt). The contract is in contract.py, the list of
methods in registry.py, the rule-based family in rules.py (+ shapes, poisson, surface)."""
