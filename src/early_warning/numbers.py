"""Numbers as people read them: one function for every face (e-mail, PDF, CLI, workbench).

`format_number` writes a number with thousands separators, a sensible precision and
its unit, and never in scientific notation: a duty officer reads "30,000 persons",
not "3e+04 persons". JSON keeps real numbers; this is for text only.

The rules, in order:

- Missing (None, NaN) is `missing` ("n/a" unless the caller shows "-" or "no value").
- The integer part is always written in full, with a comma every three digits:
  13000 -> "13,000", 1e6 -> "1,000,000", 31089.3 -> "31,089" (digits=4).
- Below that, `digits` significant digits (3 by default), but never more than `digits`
  decimal places: 0.0523 -> "0.052", 4.625 -> "4.62", 2.066 -> "2.07". Trailing zeros
  are dropped ("4.5", not "4.50"; "10", not "10.0").
- A value that is not zero but would round to zero is written as a bound, so it is
  never mistaken for zero and never written with an exponent: 1e-7 -> "< 0.001",
  -1e-7 -> "> -0.001" (a signed one "< +0.001").
- `signed=True` writes a change: "+4.62", "-0.3"; zero is "0".
- Infinities are "infinity" and "-infinity".
- The unit follows the number after a space ("30,000 persons"); a unit that starts
  with "%" is written against it ("12.5%", "3.1% of GDP"); units that are not units
  of measure (`level`, `boolean`, `true/false`, `count`, empty) are left out.
"""

from __future__ import annotations

import math

__all__ = ["UNITLESS", "format_number", "format_range", "with_unit"]

# Catalog units that name a kind of value rather than a unit of measure: never printed.
UNITLESS = frozenset({"", "level", "boolean", "true/false", "count"})


def format_number(
    value: float | None,
    unit: str | None = None,
    *,
    digits: int = 3,
    signed: bool = False,
    missing: str = "n/a",
) -> str:
    """A number as text people read: separators, `digits` significant digits, the unit.

    >>> format_number(30000, unit="persons")
    '30,000 persons'
    >>> format_number(13000), format_number(1e6), format_number(0.0523)
    ('13,000', '1,000,000', '0.052')
    >>> format_number(31089.3, digits=4), format_number(2.0661, digits=4)
    ('31,089', '2.066')
    >>> format_number(1e-7), format_number(-0.5), format_number(None)
    ('< 0.001', '-0.5', 'n/a')
    >>> format_number(4.6249, "points", signed=True), format_number(12.5, "% of GDP")
    ('+4.62 points', '12.5% of GDP')
    >>> format_number(float("nan"), missing="-"), format_number(2, "level")
    ('-', '2')
    """
    if digits < 1:
        raise ValueError(f"digits: at least 1, got {digits}")
    if value is None:
        return missing
    number = float(value)
    if math.isnan(number):
        return missing
    if math.isinf(number):
        return with_unit("infinity" if number > 0 else "-infinity", unit)
    if number == 0:
        return with_unit("0", unit)
    magnitude = abs(number)
    # The exponent of the number as rounded to `digits` significant digits (999.96 is
    # 1.00e+03 at three), read from Python's own rounding rather than a logarithm.
    exponent = int(f"{magnitude:.{digits - 1}e}".rpartition("e")[2])
    decimals = min(digits, max(0, digits - 1 - exponent))
    text = f"{magnitude:,.{decimals}f}"
    if decimals:
        text = text.rstrip("0").rstrip(".")
    sign = "-" if number < 0 else "+" if signed else ""
    if text == "0":  # not zero, but below the last place shown
        step = "0." + "0" * (decimals - 1) + "1"
        text = f"> -{step}" if number < 0 else f"< {sign}{step}"
    else:
        text = sign + text
    return with_unit(text, unit)


def format_range(low: float, high: float, unit: str | None = None, *, digits: int = 3) -> str:
    """A closed range in words: "0 to 1,000,000 persons" (a bracket and a comma between
    two numbers with thousands separators would read as three numbers).

    >>> format_range(0, 1e6, "persons"), format_range(-10, 10)
    ('0 to 1,000,000 persons', '-10 to 10')
    """
    return with_unit(
        f"{format_number(low, digits=digits)} to {format_number(high, digits=digits)}", unit
    )


def with_unit(text: str, unit: str | None) -> str:
    """`text` followed by `unit` as `format_number` writes it (see the module's rules).

    >>> with_unit("30,000", "persons"), with_unit("12.5", "%"), with_unit("2", "level")
    ('30,000 persons', '12.5%', '2')
    """
    if unit is None or unit.strip() in UNITLESS:
        return text
    unit = unit.strip()
    return f"{text}{unit}" if unit.startswith("%") else f"{text} {unit}"
