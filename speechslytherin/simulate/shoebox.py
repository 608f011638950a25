"""Random shoebox rooms with pyroomacoustics: room impulse responses and their measured RT60.

A room is drawn from a target RT60 (Sabine's formula gives the wall absorption and the image-source
order); what gets recorded is the RT60 *measured* on the simulated responses (Schroeder backward
integration, pyroomacoustics.experimental.measure_rt60), since the image-source result differs from
the Sabine target, most of all when the order is capped.
"""

import numpy as np

ROOM_MIN = (4.0, 3.0, 2.5)
ROOM_MAX = (10.0, 8.0, 4.0)
WALL_MARGIN = 0.5      # metres between any source or microphone and the walls
MIN_SOURCE_DISTANCE = 0.75  # metres between each source and the microphone


class RoomError(ValueError):
    """No room could be drawn for the asked RT60 range (too short or too long for the room sizes)."""


def _point(rng, dim, height=None):
    low = np.full(3, WALL_MARGIN)
    high = np.asarray(dim) - WALL_MARGIN
    p = rng.uniform(low, high)
    if height is not None:
        p[2] = min(max(height, low[2]), high[2])
    return p


def draw_room(rng, rt60_range, n_sources, max_order=None, tries=20):
    """A room description: dims, target RT60, absorption, image order, mic and source positions."""
    import pyroomacoustics as pra

    for _ in range(tries):
        dim = rng.uniform(ROOM_MIN, ROOM_MAX)
        rt60 = float(rng.uniform(*rt60_range))
        try:
            absorption, order = pra.inverse_sabine(rt60, dim)
        except ValueError:
            continue  # this RT60 is impossible in this room: draw again
        mic = _point(rng, dim, height=rng.uniform(1.0, 1.6))
        sources = []
        for _ in range(50 * n_sources):
            p = _point(rng, dim, height=rng.uniform(1.2, 1.9))
            if np.linalg.norm(p - mic) >= MIN_SOURCE_DISTANCE:
                sources.append(p)
                if len(sources) == n_sources:
                    break
        if len(sources) < n_sources:
            continue
        order = int(order if max_order is None else min(order, max_order))
        return {"room_dim": [round(float(x), 3) for x in dim], "rt60_target": round(rt60, 4),
                "absorption": round(float(absorption), 5), "max_order": order,
                "mic": [round(float(x), 3) for x in mic],
                "sources": [[round(float(x), 3) for x in p] for p in sources]}
    raise RoomError(f"no shoebox room between {ROOM_MIN} and {ROOM_MAX} m reaches an RT60 in {rt60_range} s "
                    f"after {tries} draws; use a range inside about 0.1-1.5 s")


def room_impulse_responses(room, sample_rate):
    """One RIR (float32) per source of `room` (from draw_room), at the microphone."""
    import pyroomacoustics as pra

    shoebox = pra.ShoeBox(room["room_dim"], fs=sample_rate, materials=pra.Material(room["absorption"]),
                          max_order=room["max_order"])
    for position in room["sources"]:
        shoebox.add_source(position)
    shoebox.add_microphone(room["mic"])
    shoebox.compute_rir()
    return [np.asarray(shoebox.rir[0][k], dtype=np.float32) for k in range(len(room["sources"]))]


def measured_rt60(rir, sample_rate):
    """RT60 in seconds from the Schroeder decay (T30 extrapolated), or None if it cannot be measured."""
    import pyroomacoustics as pra

    try:
        value = float(pra.experimental.measure_rt60(rir, fs=sample_rate, decay_db=30))
    except (ValueError, IndexError, FloatingPointError):
        return None
    return round(value, 4) if np.isfinite(value) and value > 0 else None
