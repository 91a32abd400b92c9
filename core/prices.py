"""Prices live in core/usage.py (token usage and what it costs); this name stays for imports."""

from .usage import PRICE_KEYS, PRICES, Price, parse_price_overrides, price_for

__all__ = ["PRICES", "PRICE_KEYS", "Price", "parse_price_overrides", "price_for"]
