"""StubPredictor: a canned Forecast for every request, recording what it was asked."""

from __future__ import annotations

from collections.abc import Sequence

from core.domain import Advice, Prediction, Recommendation
from core.ports import Forecast, ForecastRequest


def make_forecast(
    *,
    demand: float = 0.5,
    p_sellout: float | None = 0.2,
    hours_to_depletion: float | None = None,
    confidence: float = 0.7,
    advice: Advice = Advice.WAIT,
    sentence: str = "72% chance the cheapest price drops 5% within 3 days — wait",
) -> Forecast:
    """A forecast with sensible defaults; override what a test cares about."""
    return Forecast(
        prediction=Prediction(
            p_drop_72h=0.72,
            p_rise_72h=0.2,
            p_sellout=p_sellout,
            p10_72h=20.0,
            p50_72h=26.0,
            p90_72h=34.0,
            demand=demand,
            hours_to_depletion=hours_to_depletion,
            model="stub",
        ),
        recommendation=Recommendation(
            advice=advice,
            expected_saving=1.5,
            availability_risk=0.1,
            confidence=confidence,
            sentence=sentence,
        ),
    )


class StubPredictor:
    """Answers every request with the same Forecast; `calls` keeps each batch asked."""

    name = "stub"

    def __init__(self, forecast: Forecast | None = None, *, fail: bool = False) -> None:
        self.forecast_value = forecast or make_forecast()
        self.fail = fail
        self.calls: list[list[ForecastRequest]] = []

    async def forecast(self, requests: Sequence[ForecastRequest]) -> list[Forecast]:
        self.calls.append(list(requests))
        if self.fail:
            raise RuntimeError("stub predictor told to fail")
        return [self.forecast_value for _ in requests]
