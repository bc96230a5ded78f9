"""The speed model: maxspeed parsing, profiles, surfaces, ferries and overrides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.errors import ConfigError
from geo.inputs.speeds import (
    SpeedSettings,
    assign_speeds,
    load_profile,
    parse_duration_s,
    parse_maxspeed,
)
from geo.reference import read_reference


@pytest.mark.parametrize(
    ("value", "kph"),
    [
        ("50", 50.0),
        (" 80 ", 80.0),
        ("30 mph", 30 * 1.609344),
        ("30mph", 30 * 1.609344),
        ("10 knots", 18.52),
        ("AU:urban", 50.0),
        ("AU:rural", 100.0),
        ("au:rural", 100.0),
        ("GB:nsl_single", 96.56),
        ("GB:nsl_dual", 112.65),
        ("GB:motorway", 112.65),
        ("50;80", 50.0),
        ("80|60", 60.0),
        ("none", 110.0),
        ("walk", 7.0),
    ],
)
def test_parse_maxspeed_understands_osm_values(value, kph):
    assert parse_maxspeed(value) == pytest.approx(kph, rel=1e-4)


@pytest.mark.parametrize("value", ["fast", "", None, "signals", "0", "999", "-20", "AU:moon"])
def test_parse_maxspeed_rejects_junk(value):
    assert parse_maxspeed(value) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("00:15", 900),
        ("1:30", 5400),
        ("01:00:30", 3630),
        ("45", 2700),
        ("PT1H30M", 5400),
        ("junk", None),
        ("", None),
        ("0", None),
    ],
)
def test_parse_duration(value, seconds):
    assert parse_duration_s(value) == seconds


def _edges(tags_list, lengths=None):
    n = len(tags_list)
    return pd.DataFrame({"length_m": lengths or [1000.0] * n, "way_index": np.arange(n)})


def test_tag_beats_profile_and_override_beats_tag():
    tags = [
        {"highway": "primary", "maxspeed": "80"},
        {"highway": "primary"},
        {"highway": "track", "maxspeed": "60"},
    ]
    out = assign_speeds(_edges(tags), tags, SpeedSettings(profile="au", speeds_kph={"track": 30}))
    rural_primary = load_profile("au").loc["primary", "rural_kph"]
    assert out["speed_kph"].tolist() == pytest.approx([80.0, rural_primary, 30.0])
    assert out["maxspeed_source"].tolist() == ["tag", "profile", "override"]
    assert out["travel_time_s"].iloc[0] == pytest.approx(1000 / (80 / 3.6))


def test_unsealed_and_freeflow_factors_multiply():
    tags = [
        {"highway": "unclassified", "maxspeed": "100", "surface": "gravel"},
        {"highway": "unclassified", "maxspeed": "100", "surface": "asphalt"},
        {"highway": "track", "maxspeed": "100", "tracktype": "grade3"},
    ]
    out = assign_speeds(_edges(tags), tags, SpeedSettings(unsealed_factor=0.5, freeflow_factor=0.9))
    assert out["unsealed"].tolist() == [True, False, True]
    assert out["speed_kph"].tolist() == pytest.approx([45.0, 90.0, 45.0])


def test_ferry_uses_duration_shared_over_its_segments():
    tags = [{"route": "ferry", "duration": "00:15"}, {"route": "ferry"}]
    edges = pd.DataFrame({"length_m": [300.0, 100.0, 1000.0], "way_index": [0, 0, 1]})
    out = assign_speeds(edges, tags, SpeedSettings(ferry_speed_kph=18.0))
    assert out["travel_time_s"].tolist() == pytest.approx([675.0, 225.0, 200.0])
    assert out["is_ferry"].all()
    assert (out["maxspeed_source"] == "ferry").all()


def test_urban_defaults_where_roads_are_dense():
    # A dense grid (urban) and one long isolated road (rural) without maxspeed.
    xs = np.repeat(np.arange(0, 1000, 50.0), 20)
    ys = np.tile(np.arange(0, 1000, 50.0), 20)
    tags = [{"highway": "residential"}] * (len(xs) + 1)
    edges = _edges(tags, [100.0] * len(xs) + [1000.0])
    mid_x = np.append(xs, 50_000.0)
    mid_y = np.append(ys, 50_000.0)
    out = assign_speeds(edges, tags, SpeedSettings(profile="au"), mid_x_m=mid_x, mid_y_m=mid_y)
    profile = load_profile("au").loc["residential"]
    assert out["urban"].iloc[0] and not out["urban"].iloc[-1]
    assert out["speed_kph"].iloc[0] == profile["urban_kph"]
    assert out["speed_kph"].iloc[-1] == profile["rural_kph"]


def test_unparsed_maxspeed_is_counted():
    tags = [{"highway": "primary", "maxspeed": "fast"}, {"highway": "primary", "maxspeed": "50"}]
    out = assign_speeds(_edges(tags), tags, SpeedSettings())
    stats = out.attrs["speed_stats"]
    assert stats["ways_maxspeed_unparsed"] == 1
    assert stats["maxspeed_unparsed_examples"] == ["fast"]
    assert out["maxspeed_source"].tolist() == ["profile", "tag"]


def test_profiles_cite_sources_and_cover_every_class():
    for profile in ("au", "gb", "generic"):
        table = read_reference(f"speeds_{profile}")
        assert table["source"].str.len().min() > 10
        assert {"motorway", "primary", "residential", "track", "road"} <= set(table["highway"])
        assert (table["urban_kph"] <= table["rural_kph"]).all()


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="profile"):
        SpeedSettings(profile="mars")
    with pytest.raises(ConfigError, match="speeds_kph"):
        SpeedSettings(speeds_kph={"track": 0})
