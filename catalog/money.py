"""Prices as a shopper reads them: the shop's currency (SHOP_CURRENCY) and two decimals."""

from decimal import Decimal

from django.conf import settings

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "SEK": "kr", "JPY": "¥", "INR": "₹"}
SUFFIXED = {"SEK"}  # "249.00 kr", as Swedish shops write it


def money(amount: Decimal | float | None) -> str:
    """ "€24.99"; "" for no price. A currency without a known symbol is written as its code."""
    if amount is None or amount == "":
        return ""
    code = settings.SHOP_CURRENCY.upper()
    value = f"{Decimal(amount):,.2f}"
    symbol = SYMBOLS.get(code)
    if symbol is None:
        return f"{value} {code}"
    return f"{value} {symbol}" if code in SUFFIXED else f"{symbol}{value}"


def known(*labels: str) -> list[str]:
    """The labels worth showing: a catalog's "Unknown" or empty type or colour says nothing."""
    return [label for label in labels if label and label.strip().lower() not in {"unknown", "n/a", "none"}]
