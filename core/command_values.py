"""Parsers for the values inside chat commands: ids, prices, durations, times, zones, phones.

Each raises `CommandError` with a one-line reason and an example the person can copy.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
import zoneinfo
from datetime import timedelta
from functools import cache

from core.domain import DEFAULT_CURRENCY, Level
from core.errors import ValidationError
from core.formatting import CURRENCY_SYMBOLS, clip, money

MAX_TEXT = 200  # a name, zone or contact typed in a command
MAX_ID = 2**48 - 1  # what fits in an action token
MAX_PRICE = 100_000.0
MAX_QUANTITY = 50
MAX_SNOOZE = timedelta(days=30)

_CURRENCIES = {symbol: code for code, symbol in CURRENCY_SYMBOLS.items()}
# ISO 4217 codes a price may be typed with ("80 CAD", "AUD 80"): those of the markets
# tickets are sold in, leaving out codes that are also English words (ALL, TRY, PHP).
_OTHER_CODES = "AUD BRL CAD CHF CNY CZK DKK HKD HUF ILS INR KRW MXN NOK NZD PLN SEK SGD ZAR"
CURRENCY_CODES = frozenset((*CURRENCY_SYMBOLS, *_OTHER_CODES.split()))
# A price is marked by one code or one symbol, before or after its number.
_MARK = "|".join(re.escape(m) for m in (*sorted(CURRENCY_CODES), *CURRENCY_SYMBOLS.values()))
# A number with a currency symbol or ISO code before or after it: 80, $80, £80.50, 80€,
# GBP80, 80 GBP; thousands may be grouped (¥7,000). A comma before exactly two final digits
# cannot group thousands, so it is a decimal comma (80,50; 1.200,50 €, dots grouping).
# Dots before groups of exactly three digits (1.200, 1.200.000) group thousands in euros
# only; in any other currency or none a single dot is a decimal point (57.999 -> 58).
_PRICE = re.compile(
    rf"^(?P<before>{_MARK})?\s*(?P<number>(?P<dots>\d{{1,3}}(?:\.\d{{3}})+)"
    rf"|-?\d+(?:\.\d+)?|\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?"
    rf"|(?P<comma>\d+,\d{{2}}|\d{{1,3}}(?:\.\d{{3}})+,\d{{2}}))"
    rf"\s*(?P<after>{_MARK})?$",
    re.IGNORECASE | re.ASCII,  # ASCII: "\d" is 0-9 only
)
_DURATION = re.compile(
    r"^(\d+)\s*(m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|wk|weeks?)$", re.IGNORECASE
)
_UNIT = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# 7, 07:00, 7.30, 2230 (four digits: 24-hour), 10pm, 6:30am.
_CLOCK = re.compile(
    r"^(?:(\d{1,2})(?:[:.](\d{2}))?|(\d{2})(\d{2}))\s*(?:([ap])\.?m\.?)?$", re.IGNORECASE
)
_E164 = re.compile(r"^\+[1-9]\d{6,14}$", re.ASCII)


def compatible(text: str) -> str:
    """`text` in its NFKC form, for reading numbers: fullwidth digits and marks from East
    Asian keyboards ("３", "＃１２", "２２：００") become ASCII ones. Names are not passed
    through it: they are stored and shown as typed."""
    return unicodedata.normalize("NFKC", text)


def clip_word(text: str) -> str:
    """A word the person typed, short enough to quote back in an error."""
    return clip(text, 30)


class CommandError(ValidationError):
    """Bad chat input: a one-line reason plus an example that works."""

    def __init__(self, reason: str, example: str) -> None:
        super().__init__(f"{reason}, e.g. {example}")
        self.reason = reason
        self.example = example


def parse_id(tokens: list[str], noun: str, example: str) -> int:
    """Parse exactly one id ("12" or "#12") from `tokens`."""
    if not tokens:
        raise CommandError(f"which {noun}? give its number", example)
    if len(tokens) > 1:
        raise CommandError(f"give one {noun} number only", example)
    text = compatible(tokens[0]).removeprefix("#")
    if not text.isascii() or not text.isdigit():
        raise CommandError(f"{noun} id must be a number", example)
    value = int(text)
    if value < 1 or value > MAX_ID:
        shown = value if len(text) <= 15 else "with that id"
        raise CommandError(f"there is no {noun} {shown}", example)
    return value


class Price(float):
    """A price as typed: the amount (the float itself, so callers compare and store it as
    one) and `currency`, the ISO 4217 code of a symbol or code typed with it ("£80" ->
    "GBP"), None for a bare number. Amounts are never converted between currencies."""

    __slots__ = ("currency",)
    currency: str | None

    def __new__(cls, amount: float, currency: str | None = None) -> Price:
        price = super().__new__(cls, amount)
        price.currency = currency
        return price

    @property
    def amount(self) -> float:
        return float(self)


def is_currency(word: str) -> bool:
    """Whether `word` is a currency symbol or code the prices know ("£", "gbp")."""
    return word in _CURRENCIES or word.upper() in CURRENCY_CODES


def parse_price(text: str | None, example: str) -> Price:
    """Parse a price like 80, $80, 80.50, 80$, £80, ¥7,000 or 80 GBP into a positive
    `Price` that carries the currency typed with it."""
    if text is None:
        raise CommandError("a price is missing", example)
    match = _PRICE.match(compatible(text).strip())
    marks = [m for m in (match.group("before"), match.group("after")) if m] if match else []
    if match is None or len(marks) > 1:
        cents = "; write cents with a dot, like 80.50" if match is None and "," in text else ""
        raise CommandError(f"price must be a number, not '{text}'{cents}", example)
    currency = (_CURRENCIES.get(marks[0]) or marks[0].upper()) if marks else None
    number = match.group("number")
    if match.group("comma"):  # 1.200,50 -> 1200.50
        number = number.replace(".", "").replace(",", ".")
    elif match.group("dots") and currency == "EUR":  # 1.200 € -> 1200
        number = number.replace(".", "")
    elif match.group("dots") and number.count(".") > 1:  # 1.200.000 reads no way in dollars
        raise CommandError(f"price must be a number, not '{text}'", example)
    value = round(float(number.replace(",", "")), 2)  # stored: whole cents
    if value <= 0:
        smallest = money(0.01, currency).lstrip("<")  # "¥1": yen have no cents
        raise CommandError(f"price must be at least {smallest}", example)
    if value > MAX_PRICE:
        raise CommandError(f"price must be at most {money(MAX_PRICE, currency)}", example)
    return Price(value, currency)


def check_currency(typed: str | None, amount: float, currency: str | None, command: str) -> None:
    """Refuse `amount` typed in the currency `typed` when its event is priced in
    `currency` (None is USD): "watch #6 under $80" for a game priced in pounds. A bare
    number (`typed` None) is in the event's currency. `command` is what the price follows
    in the example ("watch #6 under")."""
    currency = currency or DEFAULT_CURRENCY
    if typed is None or typed == currency:
        return
    raise CommandError(
        f"that event is priced in {_named(currency)}, not {_named(typed)}",
        f"{command} {money(amount, currency)}",
    )


def _named(currency: str) -> str:
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol} ({currency})" if symbol else currency


def parse_quantity(text: str | None, example: str) -> int:
    """Parse a ticket quantity between 1 and MAX_QUANTITY."""
    if text is None:
        raise CommandError("the quantity is missing", example)
    text = compatible(text)
    if re.fullmatch(r"[+-]?\d+", text) and text.isascii():
        value = int(text)
        if not 1 <= value <= MAX_QUANTITY:
            raise CommandError(f"quantity must be between 1 and {MAX_QUANTITY}", example)
        return value
    raise CommandError("quantity must be a whole number", example)


def parse_percent(text: str | None, example: str) -> float:
    """Parse a drop percentage like 10% or 12.5 (between 1 and 95)."""
    raw = compatible(text or "").removesuffix("%")
    try:
        value = float(raw) if raw.isascii() and raw else None
    except ValueError:
        value = None
    if value is None or value != value:  # NaN
        raise CommandError("drop must be a percentage like 10%", example)
    if not 1 <= value <= 95:
        raise CommandError("drop must be between 1% and 95%", example)
    return value


def parse_duration(text: str, example: str) -> timedelta:
    """Parse 30m, 2h, 1d, 1w or "2 hours" into a timedelta of at most MAX_SNOOZE."""
    match = _DURATION.match(compatible(text).strip())
    if match is None:
        raise CommandError(f"'{text}' is not a duration like 30m, 2h or 1d", example)
    amount = int(match.group(1)) if len(match.group(1)) <= 6 else MAX_SNOOZE.days * 24 * 60 + 1
    delta = timedelta(**{_UNIT[match.group(2)[0].lower()]: amount})
    if delta < timedelta(minutes=1):
        raise CommandError("a snooze must last at least 1 minute", example)
    if delta > MAX_SNOOZE:
        raise CommandError("a snooze can last at most 30 days", example)
    return delta


def parse_clock(text: str, example: str) -> str:
    """Parse a local time of day ("7", "07:00", "22:30", "22.30", "2230", "10pm", "6:30am")
    into "HH:MM"."""
    match = _CLOCK.match(compatible(text).strip())
    if match is None:
        raise CommandError(f"'{text}' is not a time like 22:00", example)
    hour = int(match.group(1) or match.group(3))
    minute = int(match.group(2) or match.group(4) or 0)
    if match.group(5):  # 12-hour clock: 12am is 00, 12pm is 12
        if not 1 <= hour <= 12:
            raise CommandError(f"'{text}' is not a time of day (1am to 12pm)", example)
        hour = hour % 12 + (12 if match.group(5).casefold() == "p" else 0)
    if hour > 23 or minute > 59:
        raise CommandError(f"'{text}' is not a time of day (00:00 to 23:59)", example)
    return f"{hour:02d}:{minute:02d}"


# Abbreviations people type for a zone: each names several places or none with its daylight
# saving (tzdata's "EST" is UTC-5 all year), so the answer suggests a place instead.
_ABBREVIATIONS = {
    **dict.fromkeys(("est", "edt", "et"), "America/New_York"),
    **dict.fromkeys(("cst", "cdt", "ct"), "America/Chicago"),
    **dict.fromkeys(("mst", "mdt", "mt"), "America/Denver"),
    **dict.fromkeys(("pst", "pdt", "pt"), "America/Los_Angeles"),
    **dict.fromkeys(("akst", "akdt"), "America/Anchorage"),
    **dict.fromkeys(("hst",), "Pacific/Honolulu"),
    **dict.fromkeys(("bst",), "Europe/London"),
    **dict.fromkeys(("cest", "met"), "Europe/Paris"),
    **dict.fromkeys(("ist",), "Asia/Kolkata"),
    **dict.fromkeys(("jst",), "Asia/Tokyo"),
    **dict.fromkeys(("aest", "aedt"), "Australia/Sydney"),
}
# tzdata entries that are not a place: the host's own zone, build helpers, POSIX-style
# fixed offsets (Etc/GMT+5 is UTC-5) and the legacy rule names.
_NOT_PLACES = re.compile(
    r"^(?:localtime|posixrules|factory|(?:posix|right)/.*|(?:etc/)?gmt[+-]\d+"
    r"|est5edt|cst6cdt|mst7mdt|pst8pdt)$"
)

_WELL_KNOWN = (*dict.fromkeys(_ABBREVIATIONS.values()), "Africa/Johannesburg",
    "Asia/Singapore", "Atlantic/Reykjavik", "Indian/Mauritius", "Pacific/Auckland",
)  # fmt: skip
_OFFSET = re.compile(r"^(?:utc|gmt)?\s*[+-]\s*\d")


@cache
def _zones() -> dict[str, str]:
    """Every zone a person may choose, by its case-folded name."""
    return {
        name.casefold(): name
        for name in zoneinfo.available_timezones()
        if not _NOT_PLACES.match(name.casefold()) and name.casefold() not in _ABBREVIATIONS
    }


def _zone_example(example: str, zone: str) -> str:
    """`example` with its zone swapped for `zone`: "tz Europe/Berlin" -> "tz Asia/Tokyo",
    "--tz America/New_York" -> "--tz Asia/Tokyo" (the caller's form, chat or CLI)."""
    form, _, _ = example.rpartition(" ")
    return f"{form} {zone}" if form else zone


def parse_zone(text: str, example: str) -> str:
    """Return the canonical IANA zone name for `text` (case-insensitive): a place such as
    America/New_York, or UTC. Abbreviations (EST, PST ...) get the place to say instead.

    `example` is a working example in the caller's form ("tz Europe/Berlin" in chat,
    "--tz Europe/Berlin" in the CLI); a suggested zone is shown in that same form."""
    key = text.strip().casefold()
    place = _ABBREVIATIONS.get(key)
    if place is not None:
        raise CommandError(
            f"'{text}' is an abbreviation; say the place, which knows its daylight saving",
            _zone_example(example, place),
        )
    name = _zones().get(key)
    if name is not None:
        return name
    if _OFFSET.match(key):
        raise CommandError(
            f"'{text}' is an offset; say the place, which knows its daylight saving", example
        )
    cities = sorted(z for z in _zones().values() if z.casefold().startswith(key + "/"))
    if cities:
        city = next((c for c in _WELL_KNOWN if c in cities), cities[0])
        raise CommandError(f"'{text}' is a region; add the city", _zone_example(example, city))
    guess = _guess_zone(key)
    hint = f" (did you mean {guess}?)" if guess else ""
    raise CommandError(f"unknown time zone '{clip(text, 41)}'{hint}", example)


@cache
def _cities() -> dict[str, str]:
    """Zones by their city, case-folded ("sydney" -> Australia/Sydney); of a city in
    several (US/Eastern, Canada/Eastern) the shortest name."""
    cities: dict[str, str] = {}
    for name in sorted(_zones().values(), key=lambda n: (len(n), n)):
        area, slash, city = name.rpartition("/")
        if slash and area:
            cities.setdefault(city.casefold(), name)
    return cities


def _guess_zone(key: str) -> str | None:
    """The zone a person probably meant by the unknown `key`, or None: the one of its
    city ("sydney", "asia/berln", "canada/toronto", "sydney/australia"), matched closely.
    Matching the whole name loosely named places hours away: "asia/delhi" -> Asia/Dili,
    "america/seattle" -> America/Thule, "mumbai" -> Cuba; no guess is better than those."""
    if len(key) >= 60:
        return None
    parts = key.split("/")  # the city is last, or first ("sydney/australia")
    city = next((p for p in (parts[-1], parts[0]) if p in _cities()), None)
    if city is not None:
        return _cities()[city]
    found = difflib.get_close_matches(parts[-1], list(_cities()), n=1, cutoff=0.85)
    return _cities()[found[0]] if found else None


def ascii_digits(text: str) -> str:
    """`text` with the decimal digits of any script as ASCII ones: Arabic-Indic "٤٤",
    Persian "۴۴", Devanagari "४४" -> "44". NFKC (`compatible`) leaves those as they are."""
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)


def parse_phone(text: str, example: str, before: str = "phone") -> str:
    """Parse an E.164 phone number (spaces, dashes and brackets are ignored) into ASCII,
    whatever script its digits were typed in; `before` is what the person typed before
    it, for an example made of their own number."""
    compact = re.sub(r"[\s\-().]", "", ascii_digits(compatible(text)))
    if compact.startswith("00") and _E164.match("+" + compact[2:]):
        raise CommandError("write the international 00 as +", f"{before} +{compact[2:]}")
    if not _E164.match(compact):
        raise CommandError("phone numbers use the international form +<country><number>", example)
    return compact


def parse_level(text: str, example: str) -> Level:
    """Parse a level as 1..5 or its name (low, normal, medium, high, critical)."""
    lowered = text.casefold()
    if lowered.isdigit() and 1 <= int(lowered) <= 5:
        return Level(int(lowered))
    for level in Level:
        if level.label == lowered:
            return level
    raise CommandError(f"'{text}' is not a level (1-5 or low..critical)", example)


def parse_switch(text: str, example: str) -> bool:
    """Parse on/off (also yes/no, true/false)."""
    lowered = text.casefold()
    if lowered in {"on", "yes", "true", "1"}:
        return True
    if lowered in {"off", "no", "false", "0"}:
        return False
    raise CommandError(f"'{text}' is not on or off", example)
