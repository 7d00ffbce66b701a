"""Procedural synthetic shelf images with exact YOLO labels (classes: 0 product, 1 gap)."""

from __future__ import annotations

CLASS_NAMES: dict[int, str] = {0: "product", 1: "gap"}
PRODUCT_CLASS = 0
GAP_CLASS = 1
