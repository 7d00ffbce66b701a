"""Shelf vision at the edge: ONNX detector runtime, motion gating and slot fill from detections."""
