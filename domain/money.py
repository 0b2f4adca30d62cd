"""Money is kept in integer cents; only display turns it into French text."""

Cents = int

NBSP = "\u202f"  # narrow no-break space, the French thousands separator


def format_euros(cents: Cents) -> str:
    """Format cents as French currency text: 106492000 -> '1 064 920,00 €'."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    grouped = f"{euros:,}".replace(",", NBSP)
    return f"{sign}{grouped},{rest:02d}\u00a0€"
