"""MLB clubs as the SeatGeek 2024 data names them (slugs), with their 2024 home parks.

Used by the `seatgeek-mlb` CSV format to turn a (home, away) slug pair into an event name,
performers, a venue and the time zone its local start time is given in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SpringLeague(StrEnum):
    CACTUS = "cactus"  # Arizona
    GRAPEFRUIT = "grapefruit"  # Florida


SPRING_TIMEZONES = {
    SpringLeague.CACTUS: "America/Phoenix",
    SpringLeague.GRAPEFRUIT: "America/New_York",
}


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    nickname: str
    venue: str
    city: str
    timezone: str
    spring: SpringLeague


_C, _G = SpringLeague.CACTUS, SpringLeague.GRAPEFRUIT
_NY, _CHI, _LA = "America/New_York", "America/Chicago", "America/Los_Angeles"

TEAMS: dict[str, Team] = {
    "arizona-diamondbacks": Team(
        "Arizona Diamondbacks", "Diamondbacks", "Chase Field", "Phoenix", "America/Phoenix", _C
    ),
    "atlanta-braves": Team("Atlanta Braves", "Braves", "Truist Park", "Atlanta", _NY, _G),
    "baltimore-orioles": Team(
        "Baltimore Orioles", "Orioles", "Oriole Park at Camden Yards", "Baltimore", _NY, _G
    ),
    "boston-red-sox": Team("Boston Red Sox", "Red Sox", "Fenway Park", "Boston", _NY, _G),
    "chicago-cubs": Team("Chicago Cubs", "Cubs", "Wrigley Field", "Chicago", _CHI, _C),
    "chicago-white-sox": Team(
        "Chicago White Sox", "White Sox", "Guaranteed Rate Field", "Chicago", _CHI, _C
    ),
    "cincinnati-reds": Team(
        "Cincinnati Reds", "Reds", "Great American Ball Park", "Cincinnati", _NY, _C
    ),
    "cleveland-guardians": Team(
        "Cleveland Guardians", "Guardians", "Progressive Field", "Cleveland", _NY, _C
    ),
    "colorado-rockies": Team(
        "Colorado Rockies", "Rockies", "Coors Field", "Denver", "America/Denver", _C
    ),
    "detroit-tigers": Team(
        "Detroit Tigers", "Tigers", "Comerica Park", "Detroit", "America/Detroit", _G
    ),
    "houston-astros": Team("Houston Astros", "Astros", "Minute Maid Park", "Houston", _CHI, _G),
    "kansas-city-royals": Team(
        "Kansas City Royals", "Royals", "Kauffman Stadium", "Kansas City", _CHI, _C
    ),
    "los-angeles-angels": Team("Los Angeles Angels", "Angels", "Angel Stadium", "Anaheim", _LA, _C),
    "los-angeles-dodgers": Team(
        "Los Angeles Dodgers", "Dodgers", "Dodger Stadium", "Los Angeles", _LA, _C
    ),
    "miami-marlins": Team("Miami Marlins", "Marlins", "loanDepot park", "Miami", _NY, _G),
    "milwaukee-brewers": Team(
        "Milwaukee Brewers", "Brewers", "American Family Field", "Milwaukee", _CHI, _C
    ),
    "minnesota-twins": Team("Minnesota Twins", "Twins", "Target Field", "Minneapolis", _CHI, _G),
    "new-york-mets": Team("New York Mets", "Mets", "Citi Field", "New York", _NY, _G),
    "new-york-yankees": Team("New York Yankees", "Yankees", "Yankee Stadium", "New York", _NY, _G),
    "oakland-athletics": Team(
        "Oakland Athletics", "Athletics", "Oakland Coliseum", "Oakland", _LA, _C
    ),
    "philadelphia-phillies": Team(
        "Philadelphia Phillies", "Phillies", "Citizens Bank Park", "Philadelphia", _NY, _G
    ),
    "pittsburgh-pirates": Team("Pittsburgh Pirates", "Pirates", "PNC Park", "Pittsburgh", _NY, _G),
    "san-diego-padres": Team("San Diego Padres", "Padres", "Petco Park", "San Diego", _LA, _C),
    "san-francisco-giants": Team(
        "San Francisco Giants", "Giants", "Oracle Park", "San Francisco", _LA, _C
    ),
    "seattle-mariners": Team("Seattle Mariners", "Mariners", "T-Mobile Park", "Seattle", _LA, _C),
    "st-louis-cardinals": Team(
        "St. Louis Cardinals", "Cardinals", "Busch Stadium", "St. Louis", _CHI, _G
    ),
    "tampa-bay-rays": Team("Tampa Bay Rays", "Rays", "Tropicana Field", "St. Petersburg", _NY, _G),
    "texas-rangers": Team("Texas Rangers", "Rangers", "Globe Life Field", "Arlington", _CHI, _C),
    "toronto-blue-jays": Team(
        "Toronto Blue Jays", "Blue Jays", "Rogers Centre", "Toronto", "America/Toronto", _G
    ),
    "washington-nationals": Team(
        "Washington Nationals", "Nationals", "Nationals Park", "Washington", _NY, _G
    ),
    # Only ever the visitor: the Astros' Triple-A club in a spring exhibition.
    "sugar-land-space-cowboys": Team(
        "Sugar Land Space Cowboys", "Space Cowboys", "Constellation Field", "Sugar Land", _CHI, _G
    ),
}

# 2024 regular-season games away from the home club's park: (date, home slug) -> park.
SPECIAL_VENUES: dict[tuple[str, str], tuple[str, str, str]] = {
    ("2024-06-20", "st-louis-cardinals"): ("Rickwood Field", "Birmingham", "America/Chicago"),
}
