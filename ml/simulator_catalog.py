"""What the simulator simulates: categories, teams, artists, shows and venues.

Real-ish names, venues, capacities and IANA time zones, with a popularity tier per team
or act (+1 draws crowds, -1 struggles) that feeds the event's latent demand. Per category
profile values are the simulator's market priors: `get_in` is the typical get-in price in
USD 7 days out (MLB: the real median, $22; the others are plausible levels), `fill` the
typical final attendance share (MLB measured 0.66).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.domain import EventInfo


@dataclass(frozen=True, slots=True)
class Profile:
    get_in: float
    fill: float
    on_sale_days: tuple[float, float]
    tickets_per_listing: float
    local_times: tuple[str, ...]
    sections: tuple[str, ...]


CATEGORIES: dict[str, Profile] = {
    "mlb": Profile(
        22.0,
        0.66,
        (35, 90),
        4.9,
        ("13:10", "16:05", "18:40", "19:05", "19:10"),
        ("112", "129", "205", "318", "Bleachers 42", "Upper 425"),
    ),
    "nba": Profile(
        45.0,
        0.80,
        (30, 75),
        3.5,
        ("19:00", "19:30", "20:00"),
        ("104", "117", "208", "226", "Floor B"),
    ),
    "nhl": Profile(
        40.0, 0.80, (30, 75), 3.6, ("19:00", "19:30"), ("101", "118", "215", "310", "Upper 322")
    ),
    "nfl": Profile(
        95.0,
        0.86,
        (45, 100),
        4.0,
        ("13:00", "16:25", "20:20"),
        ("108", "131", "226", "312", "Upper 340"),
    ),
    "concert": Profile(
        70.0,
        0.78,
        (45, 120),
        2.8,
        ("19:30", "20:00"),
        ("Floor GA", "101", "114", "205", "Upper 310"),
    ),
    "theatre": Profile(
        90.0,
        0.82,
        (30, 90),
        2.4,
        ("14:00", "19:00", "19:30"),
        ("Orchestra", "Front Mezzanine", "Rear Mezzanine", "Balcony"),
    ),
}
DEFAULT_WEIGHTS: dict[str, float] = {
    "mlb": 0.32,
    "nba": 0.14,
    "nhl": 0.10,
    "nfl": 0.08,
    "concert": 0.24,
    "theatre": 0.12,
}

# Each league's season, regular and post, as (first month, day) and (last month, day):
# a demo started in December has no baseball games. Categories not named play all year.
SEASONS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "mlb": ((3, 20), (10, 31)),
    "nba": ((10, 20), (6, 20)),
    "nhl": ((10, 5), (6, 25)),
    "nfl": ((9, 5), (2, 15)),
}


def in_season(category: str, day: date) -> bool:
    """True when `category` plays on `day` (a season may run over the new year)."""
    if category not in SEASONS:
        return True
    first, last = SEASONS[category]
    today = (day.month, day.day)
    return first <= today <= last if first <= last else today >= first or today <= last


def season_categories(first: date, last: date) -> tuple[str, ...]:
    """The default categories that play from `first` to `last` (a span shorter than any
    off-season): a demo started a week before the World Series has no November games."""
    return tuple(c for c in DEFAULT_WEIGHTS if in_season(c, first) and in_season(c, last))


NY, CHI, DEN, LA, PHX = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
)
TOR, LON = "America/Toronto", "Europe/London"

# (full name, short name, venue, city, capacity, time zone, popularity)
Team = tuple[str, str, str, str, int, str, int]
TEAMS: dict[str, tuple[Team, ...]] = {
    "mlb": (
        ("Arizona Diamondbacks", "Diamondbacks", "Chase Field", "Phoenix", 48405, PHX, 0),
        ("Atlanta Braves", "Braves", "Truist Park", "Atlanta", 41084, NY, 1),
        ("Baltimore Orioles", "Orioles", "Oriole Park at Camden Yards", "Baltimore", 45971, NY, 0),
        ("Boston Red Sox", "Red Sox", "Fenway Park", "Boston", 37755, NY, 1),
        ("Chicago Cubs", "Cubs", "Wrigley Field", "Chicago", 41649, CHI, 1),
        ("Chicago White Sox", "White Sox", "Guaranteed Rate Field", "Chicago", 40615, CHI, -1),
        ("Cincinnati Reds", "Reds", "Great American Ball Park", "Cincinnati", 43500, NY, 0),
        ("Cleveland Guardians", "Guardians", "Progressive Field", "Cleveland", 34830, NY, 0),
        ("Colorado Rockies", "Rockies", "Coors Field", "Denver", 50144, DEN, -1),
        ("Detroit Tigers", "Tigers", "Comerica Park", "Detroit", 41083, NY, 0),
        ("Houston Astros", "Astros", "Minute Maid Park", "Houston", 41168, CHI, 1),
        ("Kansas City Royals", "Royals", "Kauffman Stadium", "Kansas City", 37903, CHI, -1),
        ("Los Angeles Angels", "Angels", "Angel Stadium", "Anaheim", 45517, LA, 0),
        ("Los Angeles Dodgers", "Dodgers", "Dodger Stadium", "Los Angeles", 56000, LA, 1),
        ("Miami Marlins", "Marlins", "loanDepot park", "Miami", 37446, NY, -1),
        ("Milwaukee Brewers", "Brewers", "American Family Field", "Milwaukee", 41900, CHI, 0),
        ("Minnesota Twins", "Twins", "Target Field", "Minneapolis", 38544, CHI, 0),
        ("New York Mets", "Mets", "Citi Field", "New York", 41922, NY, 0),
        ("New York Yankees", "Yankees", "Yankee Stadium", "New York", 46537, NY, 1),
        ("Oakland Athletics", "Athletics", "Oakland Coliseum", "Oakland", 46847, LA, -1),
        ("Philadelphia Phillies", "Phillies", "Citizens Bank Park", "Philadelphia", 42792, NY, 1),
        ("Pittsburgh Pirates", "Pirates", "PNC Park", "Pittsburgh", 38747, NY, -1),
        ("San Diego Padres", "Padres", "Petco Park", "San Diego", 40209, LA, 1),
        ("San Francisco Giants", "Giants", "Oracle Park", "San Francisco", 41915, LA, 0),
        ("Seattle Mariners", "Mariners", "T-Mobile Park", "Seattle", 47929, LA, 0),
        ("St. Louis Cardinals", "Cardinals", "Busch Stadium", "St. Louis", 44494, CHI, 0),
        ("Tampa Bay Rays", "Rays", "Tropicana Field", "St. Petersburg", 25000, NY, -1),
        ("Texas Rangers", "Rangers", "Globe Life Field", "Arlington", 40300, CHI, 0),
        ("Toronto Blue Jays", "Blue Jays", "Rogers Centre", "Toronto", 39150, TOR, 0),
        ("Washington Nationals", "Nationals", "Nationals Park", "Washington", 41339, NY, -1),
    ),
    "nba": (
        ("Los Angeles Lakers", "Lakers", "Crypto.com Arena", "Los Angeles", 18997, LA, 1),
        ("Boston Celtics", "Celtics", "TD Garden", "Boston", 19156, NY, 1),
        ("New York Knicks", "Knicks", "Madison Square Garden", "New York", 19812, NY, 1),
        ("Golden State Warriors", "Warriors", "Chase Center", "San Francisco", 18064, LA, 1),
        ("Chicago Bulls", "Bulls", "United Center", "Chicago", 20917, CHI, 0),
        ("Miami Heat", "Heat", "Kaseya Center", "Miami", 19600, NY, 0),
        ("Denver Nuggets", "Nuggets", "Ball Arena", "Denver", 19520, DEN, 0),
        ("Phoenix Suns", "Suns", "Footprint Center", "Phoenix", 17071, PHX, 0),
        ("Dallas Mavericks", "Mavericks", "American Airlines Center", "Dallas", 19200, CHI, 0),
        ("Milwaukee Bucks", "Bucks", "Fiserv Forum", "Milwaukee", 17341, CHI, 0),
        ("Toronto Raptors", "Raptors", "Scotiabank Arena", "Toronto", 19800, TOR, 0),
        ("Charlotte Hornets", "Hornets", "Spectrum Center", "Charlotte", 19077, NY, -1),
        ("Detroit Pistons", "Pistons", "Little Caesars Arena", "Detroit", 20332, NY, -1),
        ("Portland Trail Blazers", "Trail Blazers", "Moda Center", "Portland", 19393, LA, -1),
    ),
    "nhl": (
        ("Toronto Maple Leafs", "Maple Leafs", "Scotiabank Arena", "Toronto", 18800, TOR, 1),
        ("New York Rangers", "Rangers", "Madison Square Garden", "New York", 18006, NY, 1),
        ("Boston Bruins", "Bruins", "TD Garden", "Boston", 17850, NY, 1),
        ("Montreal Canadiens", "Canadiens", "Bell Centre", "Montreal", 21105, TOR, 1),
        ("Vegas Golden Knights", "Golden Knights", "T-Mobile Arena", "Las Vegas", 17500, LA, 0),
        ("Chicago Blackhawks", "Blackhawks", "United Center", "Chicago", 19717, CHI, 0),
        ("Edmonton Oilers", "Oilers", "Rogers Place", "Edmonton", 18347, "America/Edmonton", 0),
        ("Seattle Kraken", "Kraken", "Climate Pledge Arena", "Seattle", 17100, LA, 0),
        ("Anaheim Ducks", "Ducks", "Honda Center", "Anaheim", 17174, LA, -1),
        ("San Jose Sharks", "Sharks", "SAP Center", "San Jose", 17562, LA, -1),
    ),
    "nfl": (
        (
            "Kansas City Chiefs",
            "Chiefs",
            "GEHA Field at Arrowhead Stadium",
            "Kansas City",
            76416,
            CHI,
            1,
        ),
        ("Dallas Cowboys", "Cowboys", "AT&T Stadium", "Arlington", 80000, CHI, 1),
        ("Green Bay Packers", "Packers", "Lambeau Field", "Green Bay", 81441, CHI, 1),
        ("Philadelphia Eagles", "Eagles", "Lincoln Financial Field", "Philadelphia", 69796, NY, 1),
        ("San Francisco 49ers", "49ers", "Levi's Stadium", "Santa Clara", 68500, LA, 0),
        ("Buffalo Bills", "Bills", "Highmark Stadium", "Orchard Park", 71608, NY, 0),
        ("Chicago Bears", "Bears", "Soldier Field", "Chicago", 61500, CHI, 0),
        ("Denver Broncos", "Broncos", "Empower Field at Mile High", "Denver", 76125, DEN, 0),
        ("Las Vegas Raiders", "Raiders", "Allegiant Stadium", "Las Vegas", 65000, LA, 0),
        ("Jacksonville Jaguars", "Jaguars", "EverBank Stadium", "Jacksonville", 67814, NY, -1),
        ("Arizona Cardinals", "Cardinals", "State Farm Stadium", "Glendale", 63400, PHX, -1),
    ),
}

# (artist, popularity)
ARTISTS: tuple[tuple[str, int], ...] = (
    ("Taylor Swift", 1),
    ("Beyoncé", 1),
    ("Bad Bunny", 1),
    ("Coldplay", 1),
    ("Olivia Rodrigo", 1),
    ("Billie Eilish", 1),
    ("Sabrina Carpenter", 1),
    ("Zach Bryan", 1),
    ("Morgan Wallen", 0),
    ("Post Malone", 0),
    ("Dua Lipa", 0),
    ("Kendrick Lamar", 0),
    ("SZA", 0),
    ("Noah Kahan", 0),
    ("Hozier", 0),
    ("Tyler Childers", 0),
    ("Green Day", 0),
    ("Metallica", 0),
    ("Foo Fighters", 0),
    ("Pearl Jam", 0),
    ("Dead & Company", 0),
    ("The Killers", -1),
    ("Vampire Weekend", -1),
    ("Mumford & Sons", -1),
    ("Lorde", -1),
    ("Khruangbin", -1),
    ("Burna Boy", -1),
    ("Phish", -1),
    ("Amy Grant", -1),
)
# (venue, city, capacity, time zone)
ARENAS: tuple[tuple[str, str, int, str], ...] = (
    ("Madison Square Garden", "New York", 19500, NY),
    ("Radio City Music Hall", "New York", 6015, NY),
    ("Crypto.com Arena", "Los Angeles", 20000, LA),
    ("Hollywood Bowl", "Los Angeles", 17500, LA),
    ("Kia Forum", "Inglewood", 17505, LA),
    ("United Center", "Chicago", 23500, CHI),
    ("TD Garden", "Boston", 19580, NY),
    ("Red Rocks Amphitheatre", "Morrison", 9525, DEN),
    ("Sphere", "Las Vegas", 17600, LA),
    ("State Farm Arena", "Atlanta", 21000, NY),
    ("Ryman Auditorium", "Nashville", 2362, CHI),
    ("Chase Center", "San Francisco", 18064, LA),
    ("Scotiabank Arena", "Toronto", 19800, TOR),
    ("The O2", "London", 20000, LON),
)
# (show, theatre, city, capacity, time zone, popularity)
SHOWS: tuple[tuple[str, str, str, int, str, int], ...] = (
    ("Hamilton", "Richard Rodgers Theatre", "New York", 1319, NY, 1),
    ("Wicked", "Gershwin Theatre", "New York", 1933, NY, 1),
    ("The Lion King", "Minskoff Theatre", "New York", 1710, NY, 0),
    ("Hadestown", "Walter Kerr Theatre", "New York", 945, NY, 0),
    ("MJ The Musical", "Neil Simon Theatre", "New York", 1362, NY, 0),
    ("Moulin Rouge! The Musical", "Al Hirschfeld Theatre", "New York", 1424, NY, -1),
    ("The Book of Mormon", "Eugene O'Neill Theatre", "New York", 1066, NY, -1),
    ("Hamilton", "Victoria Palace Theatre", "London", 1517, LON, 1),
    ("Wicked", "Apollo Victoria Theatre", "London", 2328, LON, 0),
    ("Les Misérables", "Sondheim Theatre", "London", 1074, LON, 0),
    ("Six", "Vaudeville Theatre", "London", 690, LON, -1),
    ("Hadestown", "CIBC Theatre", "Chicago", 1800, CHI, -1),
)


@dataclass(frozen=True, slots=True)
class DrawnEvent:
    """An event description plus what drives its market (before paths are drawn)."""

    info: EventInfo
    category: str
    popularity: float
    weekend: bool


def sample_event(
    rng: random.Random, external_id: str, category: str, start: datetime, horizon: timedelta
) -> DrawnEvent:
    """Draw one event of `category` starting within (start, start + horizon]."""
    profile = CATEGORIES[category]
    if category in TEAMS:
        home, away = rng.sample(TEAMS[category], 2)
        name = f"{away[1]} at {home[1]}"
        performers: tuple[str, ...] = (home[0], away[0])
        venue, city, capacity, tz = home[2], home[3], home[4], home[5]
        popularity = home[6] * 0.35 + away[6] * 0.2
    elif category == "concert":
        artist, pop = rng.choice(ARTISTS)
        venue, city, capacity, tz = rng.choice(ARENAS)
        name, performers, popularity = artist, (artist,), pop * 0.45
    else:
        show, venue, city, capacity, tz, pop = rng.choice(SHOWS)
        name, performers, popularity = show, (show,), pop * 0.4
    starts_at = _start_time(rng, start, horizon, tz, rng.choice(profile.local_times))
    info = EventInfo(
        external_id=external_id,
        name=name,
        starts_at=starts_at,
        category=category,
        performers=performers,
        venue=venue,
        city=city,
        capacity=capacity,
        timezone=tz,
    )
    weekend = starts_at.astimezone(ZoneInfo(tz)).weekday() >= 4
    return DrawnEvent(info, category, popularity, weekend)


def _start_time(
    rng: random.Random, start: datetime, horizon: timedelta, tz: str, local: str
) -> datetime:
    zone = ZoneInfo(tz)
    lead = timedelta(hours=6)
    span = max(horizon - lead, timedelta(hours=1))
    day = (start + lead + span * rng.random()).astimezone(zone).date()
    hour, minute = (int(part) for part in local.split(":"))
    when = datetime.combine(day, time(hour, minute), zone).astimezone(UTC)
    if when <= start + lead:
        when += timedelta(days=1)
    if when > start + horizon:
        when -= timedelta(days=1)
    return min(max(when, start + lead), start + horizon)
