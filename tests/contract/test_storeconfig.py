"""The store file: the example loads; broken files give every error by its location."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from smartstore.kernel.storeconfig import (
    EXAMPLE_STORE,
    Area,
    StoreConfig,
    StoreConfigError,
    load_store,
    parse_store,
)


@pytest.fixture(scope="module")
def example_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE_STORE.read_text(encoding="utf-8"))
    return data


def broken(example_data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(example_data)


def errors_of(data: Any) -> list[str]:
    with pytest.raises(StoreConfigError) as caught:
        parse_store(data, "broken.yaml")
    assert "broken.yaml" in str(caught.value)
    return caught.value.errors


def test_example_store_loads(example_store: StoreConfig) -> None:
    assert example_store.store.id == "store-berlin-01"
    assert len(example_store.catalog) >= 100
    assert len(example_store.products) == len(example_store.catalog)
    assert {z.area for z in example_store.zones} == set(Area)
    assert example_store.antenna_zones[("reader-aisle-1", 1)] == "aisle-1"
    assert all(slot.gtin in example_store.products for _, slot in example_store.slots.values())
    assert example_store.shelves_for_camera("cam-1l")
    assert [z.id for z in example_store.zones_in(Area.EXIT)] == ["exit"]


def test_unknown_zone_in_an_antenna(example_data: dict[str, Any]) -> None:
    data = broken(example_data)
    data["devices"]["readers"][1]["antennas"][0]["zone"] = "aisle-9"
    assert errors_of(data) == ["devices.readers[1].antennas[0].zone: unknown zone 'aisle-9'"]


def test_planogram_gtin_not_in_catalog(example_data: dict[str, Any]) -> None:
    data = broken(example_data)
    data["planogram"][0]["slots"][2]["gtin"] = "09506000199993"
    assert errors_of(data) == ["planogram[0].slots[2].gtin: 09506000199993 is not in the catalog"]


def test_duplicate_ids(example_data: dict[str, Any]) -> None:
    data = broken(example_data)
    data["zones"].append(dict(data["zones"][0]))
    data["devices"]["cameras"][1]["id"] = data["devices"]["readers"][0]["id"]
    data["catalog"].append(dict(data["catalog"][3]))
    errors = errors_of(data)
    last_zone, last_product = len(data["zones"]) - 1, len(data["catalog"]) - 1
    assert f"zones[{last_zone}].id: duplicate 'backroom'" in errors
    assert f"catalog[{last_product}].gtin: duplicate '{data['catalog'][3]['gtin']}'" in errors
    assert any(e.startswith("devices[") and "duplicate 'reader-backroom'" in e for e in errors)


def test_bad_check_digit_is_located(example_data: dict[str, Any]) -> None:
    data = broken(example_data)
    data["catalog"][4]["gtin"] = "09506000100044"  # correct is ...043
    errors = errors_of(data)
    assert any(e.startswith("catalog[4].gtin:") and "check digit" in e for e in errors), errors


def test_polygon_outside_the_camera_image(example_data: dict[str, Any]) -> None:
    data = broken(example_data)
    data["planogram"][0]["slots"][0]["polygon"][1] = [1400, 100]  # cameras are 1280x720
    assert errors_of(data) == ["planogram[0].slots[0].polygon: outside the 1280x720 image"]


def test_several_errors_are_all_reported(example_data: dict[str, Any]) -> None:
    data = broken(example_data)
    data["devices"]["lockers"][0]["zone"] = "nowhere"
    data["planogram"][1]["camera"] = "cam-404"
    data["store"]["shelf_empty_fill"] = 0.9
    errors = errors_of(data)
    assert "devices.lockers[0].zone: unknown zone 'nowhere'" in errors
    assert "planogram[1].camera: unknown camera 'cam-404'" in errors
    assert "store.shelf_empty_fill: must be below store.shelf_low_fill" in errors


def test_field_errors_name_their_path(example_data: dict[str, Any]) -> None:
    data = broken(example_data)
    data["zones"][2]["area"] = "garden"
    data["devices"]["readers"][0]["colour"] = "blue"
    errors = errors_of(data)
    assert any(e.startswith("zones[2].area:") for e in errors), errors
    assert any(e.startswith("devices.readers[0].colour:") for e in errors), errors


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(StoreConfigError):
        load_store(tmp_path / "missing.yaml")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("store: [unclosed\n", encoding="utf-8")
    with pytest.raises(StoreConfigError):
        load_store(bad_yaml)
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(StoreConfigError):
        load_store(empty)
