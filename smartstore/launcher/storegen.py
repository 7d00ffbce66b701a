"""Generate the example store file: a mid-size grocery with RFID, shelf cameras and a locker bank."""

from __future__ import annotations

import random
from typing import Any

import yaml

from smartstore.kernel.contract.gtin import make_gtin14
from smartstore.kernel.storeconfig import EXAMPLE_STORE

# GS1 prefix 950 is reserved by GS1 for examples and demonstrations: never a real product.
COMPANY_PREFIX = "9506000"
CATEGORIES = {
    "dairy": [
        "Whole milk 1 l",
        "Oat drink 1 l",
        "Greek yoghurt 500 g",
        "Butter 250 g",
        "Cheddar 200 g",
    ],
    "bakery": ["Sourdough loaf", "Rye crispbread", "Butter croissants 4x", "Oat cookies 200 g"],
    "pantry": [
        "Basmati rice 1 kg",
        "Penne 500 g",
        "Tomato passata 700 g",
        "Olive oil 500 ml",
        "Chickpeas 400 g",
        "Peanut butter 350 g",
        "Honey 250 g",
        "Oat flakes 500 g",
    ],
    "drinks": [
        "Sparkling water 1.5 l",
        "Orange juice 1 l",
        "Cola 330 ml",
        "Green tea 20 bags",
        "Ground coffee 250 g",
        "Lemonade 500 ml",
    ],
    "snacks": [
        "Sea salt crisps 150 g",
        "Dark chocolate 100 g",
        "Salted peanuts 200 g",
        "Rice cakes",
    ],
    "household": ["Dish soap 500 ml", "Paper towels 4x", "Laundry pods 20x", "Sponges 3x"],
    "care": ["Toothpaste 75 ml", "Shampoo 250 ml", "Hand soap 300 ml", "Razor blades 4x"],
}
BRANDS = ["Nordvik", "Greenfield", "Alba", "Brightside", "Kestrel", "Maple & Co", "Sunvale", "Orto"]

AISLES = 4
LEVELS = 4
SLOTS_PER_LEVEL = 6
IMAGE_W, IMAGE_H = 1280, 720
MARGIN_X = 40


def _catalog(rng: random.Random, count: int) -> list[dict[str, Any]]:
    products = []
    items = [(cat, name) for cat, names in CATEGORIES.items() for name in names]
    for index in range(count):
        category, name = items[index % len(items)]
        brand = BRANDS[(index // len(items)) % len(BRANDS)]
        gtin = make_gtin14("0" + COMPANY_PREFIX + f"{10000 + index:05d}")
        products.append(
            {
                "gtin": gtin,
                "name": f"{brand} {name}",
                "sku": f"{category[:3].upper()}-{index + 1:05d}",
                "rfid_tagged": index % 10 != 9,  # one product in ten carries no tag: counted by POS
                "safety_stock": rng.choice([0, 1, 2, 2, 3]),
                "locker_size": rng.choice(["S", "S", "M", "L"]),
            }
        )
    return products


def _slot_polygon(level: int, position: int) -> list[list[float]]:
    width = (IMAGE_W - 2 * MARGIN_X) / SLOTS_PER_LEVEL
    height = IMAGE_H / LEVELS
    x0, y0 = MARGIN_X + position * width, level * height + 12
    x1, y1 = x0 + width - 4, y0 + height - 36  # the bottom 24 px is the shelf edge
    return [
        [round(x0), round(y0)],
        [round(x1), round(y0)],
        [round(x1), round(y1)],
        [round(x0), round(y1)],
    ]


def generate(seed: int = 7, catalog_size: int = 240) -> dict[str, Any]:
    rng = random.Random(seed)
    catalog = _catalog(rng, catalog_size)
    zones: list[dict[str, Any]] = [
        {
            "id": "backroom",
            "area": "backroom",
            "name": "Backroom",
            "departure_timeout_s": 300,
            "low_stock": 3,
        }
    ]
    zones += [{"id": f"aisle-{a}", "area": "salesfloor", "name": f"Aisle {a}"} for a in range(1, AISLES + 1)]
    zones += [
        {"id": "exit", "area": "exit", "name": "Checkout and exit", "departure_timeout_s": 10},
        {"id": "locker-bay", "area": "locker", "name": "Pickup locker bay"},
    ]
    readers = [
        {
            "id": "reader-backroom",
            "host": "10.20.0.10",
            "antennas": [{"port": 1, "zone": "backroom"}, {"port": 2, "zone": "backroom"}],
        }
    ]
    readers += [
        {
            "id": f"reader-aisle-{a}",
            "host": f"10.20.0.{10 + a}",
            "antennas": [{"port": 1, "zone": f"aisle-{a}"}, {"port": 2, "zone": f"aisle-{a}"}],
        }
        for a in range(1, AISLES + 1)
    ]
    readers += [
        {"id": "reader-exit", "host": "10.20.0.30", "antennas": [{"port": 1, "zone": "exit"}]},
        {
            "id": "reader-lockers",
            "host": "10.20.0.31",
            "antennas": [{"port": 1, "zone": "locker-bay"}],
        },
    ]
    cameras, shelves = [], []
    tagged = iter(p for p in catalog)
    for aisle in range(1, AISLES + 1):
        for side in ("left", "right"):
            shelf_id = f"shelf-{aisle}{side[0]}"
            camera_id = f"cam-{aisle}{side[0]}"
            cameras.append({"id": camera_id, "width": IMAGE_W, "height": IMAGE_H, "interval_s": 5})
            slots = []
            for level in range(LEVELS):
                for position in range(SLOTS_PER_LEVEL):
                    product = next(tagged)
                    facings = rng.choice([2, 3, 3, 4])
                    slots.append(
                        {
                            "id": f"{aisle}{side[0]}-{level + 1}-{position + 1}",
                            "gtin": product["gtin"],
                            "facings": facings,
                            "capacity": facings * rng.choice([2, 3, 4]),
                            "polygon": _slot_polygon(level, position),
                        }
                    )
            shelves.append({"id": shelf_id, "zone": f"aisle-{aisle}", "camera": camera_id, "slots": slots})
    sizes = ["S"] * 8 + ["M"] * 6 + ["L"] * 4
    lockers = [
        {
            "id": "locker-1",
            "zone": "locker-bay",
            "compartments": [{"id": f"c{i + 1:02d}", "size": size} for i, size in enumerate(sizes)],
        }
    ]
    return {
        "store": {
            "id": "store-berlin-01",
            "name": "Smartstore Berlin Mitte",
            "timezone": "Europe/Berlin",
            "location": {"lat": 52.5246, "lon": 13.4027},
            # Counter and locker pickup in hourly slots, 30-minute delivery within 4 km, parcels.
            "fulfilment": {
                "opens": "08:00",
                "closes": "21:00",
                "slot_minutes": 60,
                "counter_slot_capacity": 12,
                "locker_slot_capacity": 18,
                "delivery": {"radius_km": 4.0, "promise_minutes": 30, "at_risk_minutes": 10},
                "ships": True,
            },
        },
        "catalog": catalog,
        "zones": zones,
        # edge-1 is the store's edge agent; demo-hand signs the signals the demo's banner shows how to type.
        "devices": {
            "agents": ["edge-1", "demo-hand"],
            "readers": readers,
            "cameras": cameras,
            "lockers": lockers,
        },
        "planogram": shelves,
    }


HEADER = """\
# Example store for smartstore: generated by `python -m smartstore.storegen` (seed 7); edit freely.
# GTINs use GS1's example prefix 950, so none of them is a real product.
"""


def main() -> None:
    out = EXAMPLE_STORE
    out.write_text(HEADER + yaml.safe_dump(generate(), sort_keys=False, width=120), encoding="utf-8")
    print(out)


if __name__ == "__main__":
    main()
