"""Money is kept in integer cents; only display turns it into French text."""

Cents = int

NBSP = "\u202f"  # narrow no-break space, the French thousands separator


def format_count(n: int) -> str:
    """A whole number in French: 9000 -> '9 000'."""
    return f"{n:,}".replace(",", NBSP)


def format_euros(cents: Cents) -> str:
    """Format cents as French currency text: 106492000 -> '1 064 920,00 €'."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    return f"{sign}{format_count(euros)},{rest:02d}\u00a0€"
