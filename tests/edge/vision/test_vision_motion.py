"""The motion gate on synthetic shelf frames with a dark 'shopper' blob walking across them."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from smartstore.edge.vision.motion import GateDecision, InferReason, MotionGate, MotionState
from smartstore.edge.vision.settings import MotionSettings
from smartstore.models.synth.pipeline import synthesize

Frame = npt.NDArray[np.uint8]
WIDTH, HEIGHT = 320, 240
SLOTS = {
    "left": [(0.0, 0.0), (100.0, 0.0), (100.0, 240.0), (0.0, 240.0)],
    "right": [(220.0, 0.0), (320.0, 0.0), (320.0, 240.0), (220.0, 240.0)],
}


class Camera:
    """A static synthetic shelf seen through a noisy sensor; `shopper_x` draws a person in front."""

    def __init__(self, seed: int = 7) -> None:
        shelf = synthesize(seed, WIDTH).image
        self.shelf = cv2.resize(shelf, (WIDTH, HEIGHT))
        rng = np.random.default_rng(seed)
        # A few noise frames reused in turn: real sensors never give the same frame twice.
        self._noise = [np.asarray(rng.normal(0, 3, self.shelf.shape), dtype=np.int16) for _ in range(6)]
        self._count = 0

    def frame(self, shopper_x: float | None = None) -> Frame:
        self._count += 1
        noisy = self.shelf.astype(np.int16) + self._noise[self._count % len(self._noise)]
        image: Frame = np.clip(noisy, 0, 255).astype(np.uint8)
        if shopper_x is not None:
            cv2.ellipse(image, (round(shopper_x), 130), (28, 90), 0, 0, 360, (35, 30, 30), -1)
        return image


def gate(**overrides: float) -> MotionGate:
    return MotionGate(MotionSettings(**overrides), SLOTS, (WIDTH, HEIGHT))


def feed(motion: MotionGate, frames: Iterator[tuple[float, Frame]]) -> list[tuple[float, GateDecision]]:
    return [(now, motion.update(frame, now)) for now, frame in frames]


def test_infers_at_start_not_while_moving_and_once_after_settling() -> None:
    camera, motion = Camera(), gate(settle_s=3.0, stale_window_s=2.0)
    still = feed(motion, ((t, camera.frame()) for t in range(0, 5)))
    walking = feed(motion, ((t, camera.frame(shopper_x=(t - 5) * 16.0)) for t in range(5, 15)))
    settling = feed(motion, ((t, camera.frame()) for t in range(15, 30)))

    assert [d.reason for _, d in still] == [InferReason.STARTUP, None, None, None, None]
    assert not any(d.infer for _, d in walking)
    assert {d.state for _, d in walking[1:]} == {MotionState.MOVING}
    inferred = [(now, d) for now, d in settling if d.infer]
    assert len(inferred) == 1
    now, decision = inferred[0]
    # Still from t=15 (the frame after the shopper is gone still differs from the last one), so t=19.
    assert decision.reason is InferReason.SETTLED
    assert 18 <= now <= 19
    assert decision.changed_slots == {"left"}  # the shopper walked x 0..144: never in front of 'right'
    assert decision.stale_slots == frozenset()  # settled: nothing in front of the shelf any more


def test_sensor_noise_is_no_motion_and_a_still_scene_is_rechecked() -> None:
    camera, motion = Camera(seed=11), gate(recheck_s=30.0)
    decisions = feed(motion, ((t, camera.frame()) for t in range(0, 65)))

    assert all(d.state is MotionState.STABLE for _, d in decisions)
    assert max(d.motion for _, d in decisions) < motion.settings.min_area
    assert [(t, d.reason) for t, d in decisions if d.infer] == [
        (0, InferReason.STARTUP),
        (30, InferReason.RECHECK),
        (60, InferReason.RECHECK),
    ]


def test_motion_that_never_settles_forces_a_look_with_covered_slots_stale() -> None:
    camera, motion = Camera(), gate(max_wait_s=10.0)
    # Someone fidgets in front of 'right' for a long time.
    frames = ((t, camera.frame(shopper_x=260.0 + (8.0 if t % 2 else -8.0))) for t in range(0, 25))
    forced = [(t, d) for t, d in feed(motion, frames) if d.reason is InferReason.FORCED]

    assert [t for t, _ in forced] == [11, 21]
    assert all(d.stale_slots == {"right"} for _, d in forced)


def test_an_hour_with_shoppers_reaches_the_detector_rarely() -> None:
    camera, motion = Camera(seed=5), gate()
    pass_every_s, crossing_frames = 120, 12
    inferred = 0
    for t in range(3600):
        phase = t % pass_every_s
        shopper = phase * (WIDTH + 60) / crossing_frames - 30 if phase < crossing_frames else None
        decision = motion.update(camera.frame(shopper_x=shopper), float(t))
        inferred += decision.infer
        # The detector never runs while somebody stands in front of the shelf.
        assert not (decision.infer and shopper is not None and t > 0)

    share = inferred / 3600
    print(f"gating: {inferred} of 3600 frames reached the detector ({share:.1%})")
    assert share <= 0.10
    assert inferred == pytest.approx(1 + 3600 / pass_every_s, abs=2)  # start-up + one per passing shopper


@pytest.mark.parametrize("settle_s", [3.0, 0.0])
def test_may_infer_before_every_inference_and_not_for_most_still_frames(settle_s: float) -> None:
    """`may_infer`, asked before each frame (sometimes with a confirmation wanted), says yes whenever the
    frame is then inferred, for every reason, has no effect on the gate, and lets most frames skip the
    detector's picture."""
    camera = Camera(seed=3)
    asked, twin = (gate(settle_s=settle_s, recheck_s=40.0, max_wait_s=15.0) for _ in range(2))
    rng = np.random.default_rng(3)
    answers: list[bool] = []
    reasons: set[InferReason] = set()
    for t in range(400):
        # For 4 minutes, 25 s of fidgeting in front of the shelf a minute (a forced look), then stillness.
        shopper = float(rng.uniform(0, WIDTH)) if t < 240 and t % 60 < 25 else None
        frame, confirm = camera.frame(shopper_x=shopper), t < 240 and t % 37 == 0
        may = asked.may_infer(float(t), confirm)
        decision = asked.update(frame, float(t), confirm)

        assert may or not decision.infer, (t, decision)
        assert twin.update(frame, float(t), confirm) == decision
        answers.append(may)
        reasons |= {decision.reason} if decision.reason else set()
    assert reasons == set(InferReason)
    assert 0.6 < answers.count(False) / len(answers) < 0.99
