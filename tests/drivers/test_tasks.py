"""The tasks' success tests on poses written out by hand: the grasp point against the cube's
faces (also when the cube has turned), and the lift measured from where the cube started."""

import math

import numpy as np
import pytest

from lerobot_drivers.sim.tasks import CUBE_REGION, random_cube, task_named

CUBE = [0.25, 0.05, 0.02]
AXES = np.eye(3).flatten().tolist()


def scene(grasp, cube=CUBE, axes=AXES):
    return {"grasp": list(grasp), "cube": list(cube), "cube_axes": list(axes)}


@pytest.mark.parametrize(
    ("grasp", "distance"),
    [
        ([0.25, 0.05, 0.035], 0.0),  # inside the box (between the jaws)
        ([0.25, 0.05, 0.05], 0.01),  # 1 cm above the top face
        ([0.25, 0.05, 0.055], 0.015),  # 1.5 cm above the top face
        ([0.25, 0.05, 0.065], 0.025),  # 2.5 cm above it: too far
        ([0.30, 0.05, 0.02], 0.03),  # 3 cm off the +x face
        ([0.29, 0.09, 0.02], math.hypot(0.02, 0.02)),  # off an edge
    ],
)
def test_reach_measures_to_the_cubes_faces(grasp, distance):
    reach = task_named("reach")
    assert reach.distance(scene(grasp), scene(grasp)) == pytest.approx(distance, abs=1e-9)
    assert reach.succeeded(scene(grasp), scene(grasp)) is (distance < 0.02)


def test_reach_follows_a_turned_cube():
    """Turned 45 degrees about z, the cube's corner points along x: 2.83 cm from its centre."""
    turn = np.array(
        [
            [math.cos(math.pi / 4), -math.sin(math.pi / 4), 0],
            [math.sin(math.pi / 4), math.cos(math.pi / 4), 0],
            [0, 0, 1],
        ]
    )
    grasp = [CUBE[0] + 0.0383, CUBE[1], CUBE[2]]  # 1 cm beyond the corner
    now = scene(grasp, axes=turn.flatten().tolist())
    assert task_named("reach").distance(now, now) == pytest.approx(0.0383 - 0.02 * math.sqrt(2), abs=1e-4)


def test_pick_counts_the_lift_from_where_the_cube_started():
    pick = task_named("pick")
    start = scene([0, 0, 0.3])
    assert not pick.succeeded(start, scene([0, 0, 0.3], cube=[0.25, 0.05, 0.065]))
    assert pick.distance(start, scene([0, 0, 0.3], cube=[0.25, 0.05, 0.065])) == pytest.approx(0.005)
    assert pick.succeeded(start, scene([0, 0, 0.3], cube=[0.2, 0.0, 0.071]))  # moved and lifted 5.1 cm


def test_cube_places_are_random_in_the_region_and_repeat_by_seed():
    places = [random_cube(np.random.default_rng(seed)) for seed in range(200)]
    (x0, y0), (x1, y1) = CUBE_REGION
    assert all(x0 <= x <= x1 and y0 <= y <= y1 and z == 0.02 for x, y, z in places)
    assert len(set(places)) == 200
    assert random_cube(np.random.default_rng(7)) == places[7]
    with pytest.raises(ValueError, match="no task 'stack'; the tasks: reach, pick"):
        task_named("stack")
