"""Arithmetic on figures with formulas, rounded as the source prints (half up).

Source conventions: amounts in 万元 carry two decimals in the standard tables; percentages are given
to two decimals. Results are exact decimal arithmetic on the printed values.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

UNIT_FACTORS = {"元": Decimal(1), "万元": Decimal(10000), "亿元": Decimal(100000000)}


def dec(x: float | str) -> Decimal:
    """Decimal from a printed figure ("1,990.50") or a float (via its repr)."""
    return Decimal(str(x).replace(",", ""))


def fmt(value: Decimal, decimals: int) -> str:
    """Round half up to ``decimals`` and print without thousands separators."""
    q = Decimal(1).scaleb(-decimals) if decimals > 0 else Decimal(1)
    return str(value.quantize(q, rounding=ROUND_HALF_UP))


def share(part: Decimal, whole: Decimal) -> Decimal | None:
    """part / whole × 100 (percent), or None when the whole is zero."""
    if whole == 0:
        return None
    return part / whole * 100


def convert(value: Decimal, from_unit: str, to_unit: str) -> Decimal:
    """Convert between 元, 万元 and 亿元. Raises KeyError for other units."""
    return value * UNIT_FACTORS[from_unit] / UNIT_FACTORS[to_unit]


def decimals_for(texts: list[str], default: int = 2) -> int:
    """Decimals to print a derived amount with: the most any input printed (at least the default
    for 万元 amounts printed with decimals)."""
    best = 0
    for t in texts:
        t = str(t)
        if "." in t:
            best = max(best, len(t.split(".")[1].rstrip("%")))
    return best if best else 0


def shift(from_unit: str, to_unit: str) -> int:
    """Decimal places a conversion moves (万元 → 亿元: 4; 万元 → 元: −4)."""
    ratio = UNIT_FACTORS[to_unit] / UNIT_FACTORS[from_unit]
    return int(ratio.log10().to_integral_value())


def exact(value: Decimal, decimals: int, min_decimals: int = 2) -> str:
    """Print a converted amount without losing precision: rounded only to ``decimals`` (the source
    precision carried over), trailing zeros dropped but at least ``min_decimals`` kept for 万元/亿元
    (1990.50 万元 → 0.19905 亿元, 50,000 元 → 5.00 万元, 151.10 万元 → 1511000 元)."""
    text = fmt(value, max(0, decimals))
    if "." in text:
        head, tail = text.split(".")
        tail = tail.rstrip("0")
        tail = tail + "0" * max(0, min_decimals - len(tail))
        text = f"{head}.{tail}" if tail else head
    elif min_decimals:
        text = text + "." + "0" * min_decimals
    return text


def group_thousands(text: str) -> str:
    """Insert thousands separators into a printed number, keeping its decimals ("46140000.00" →
    "46,140,000.00"; "1,990.50" unchanged). Text that is not a plain number is returned as is."""
    t = str(text).strip().replace(",", "")
    sign = "-" if t.startswith("-") else ""
    whole, dot, frac = t.lstrip("-+").partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        return str(text).strip()
    return f"{sign}{int(whole):,}" + (f".{frac}" if dot else "")


def display_amount(value_text: str, unit: str) -> str:
    """An amount as shown to a reader: thousands separators, its unit, and for 元 also in 万元
    rounded half up to two decimals ("66410000.00", "元" → "66,410,000.00 元（6,641.00 万元）";
    "9,101.68", "万元" → "9,101.68 万元"). Other units (%, 个, …) are printed as given with the unit
    appended; text that is not a number is returned unchanged (with its unit)."""
    text = (value_text or "").strip()
    unit = unit or ""
    grouped = group_thousands(text)
    if unit == "元":
        try:
            wan = dec(text) / UNIT_FACTORS["万元"]
        except ArithmeticError:
            return f"{text} {unit}".strip()
        return f"{grouped} 元（{group_thousands(fmt(wan, 2))} 万元）"
    if unit in UNIT_FACTORS:
        return f"{grouped} {unit}"
    if not unit or text.endswith(unit):
        return text
    return f"{text}{unit}" if unit in ("%", "％") else f"{text} {unit}"


def fmt_like(value: Decimal, decimals: int, like: list[str]) -> str:
    """``value`` with ``decimals`` decimals, grouped by thousands when the figures it was computed
    from print their thousands so (106,000 + 325,000 = 431,000)."""
    text = fmt(value, decimals)
    return group_thousands(text) if any("," in x for x in like) else text
