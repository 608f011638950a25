"""Active speech level (ITU-T P.56, method B), the level wsj0-2mix normalises its sources by.

The wsj0-2mix scripts (and pywsj0-mix, and SepMamba's dynamic mixing) divide every source by
the square root of its active level: the mean power over the samples where speech is active,
so pauses do not make a talker look quieter. pywsj0-mix ships those levels for WSJ0
(``metadata/activlev/activlev_<subset>.txt``, "<utt> <level>" per line, read with
``read_activlev_file``); for a pool without such a file, ``active_level`` computes them:

- envelope q: two first-order smoothers of |x| with time constant 0.03 s;
- for thresholds c_j (powers of two), the activity count a_j = samples with q >= c_j, plus a
  0.2 s hangover after each;
- A_j = 10 log10(sum x^2 / a_j) (active level at c_j); the level is where A_j - 20 log10(c_j)
  falls to the 15.9 dB margin (linear interpolation between thresholds).
The result is a power (mean square), like the files' values.
"""

import math

import numpy as np
from scipy.signal import lfilter

TIME_CONSTANT_S = 0.03
HANGOVER_S = 0.2
MARGIN_DB = 15.9
THRESHOLD_EXPONENTS = np.arange(-24, 1)  # c_j = 2**j for float audio in [-1, 1]


def active_level(wav, sample_rate):
    """Active speech level (mean power over active samples) of a 1-D float signal."""
    x = np.asarray(wav, dtype=np.float64).reshape(-1)
    total = float(np.sum(x * x))
    if x.size == 0 or total == 0.0:
        return 0.0
    g = math.exp(-1.0 / (sample_rate * TIME_CONSTANT_S))
    p = lfilter([1.0 - g], [1.0, -g], np.abs(x))
    q = lfilter([1.0 - g], [1.0, -g], p)
    hangover = int(math.ceil(HANGOVER_S * sample_rate))
    index = np.arange(x.size)
    levels_db, excess_db = [], []
    for exponent in THRESHOLD_EXPONENTS:
        c = 2.0 ** float(exponent)
        active = q >= c
        if not active.any():
            break
        last_active = np.maximum.accumulate(np.where(active, index, -hangover - 1))
        count = int(np.sum(index - last_active <= hangover))
        level_db = 10.0 * math.log10(total / count)
        levels_db.append(level_db)
        excess_db.append(level_db - 20.0 * math.log10(c))
    if not levels_db:  # quieter than every threshold: everything counts as active
        return total / x.size
    for j in range(len(excess_db)):
        if excess_db[j] <= MARGIN_DB:
            if j == 0:
                return 10.0 ** (levels_db[0] / 10.0)
            d0, d1 = excess_db[j - 1], excess_db[j]
            frac = (d0 - MARGIN_DB) / (d0 - d1)
            return 10.0 ** ((levels_db[j - 1] + frac * (levels_db[j] - levels_db[j - 1])) / 10.0)
    return 10.0 ** (levels_db[-1] / 10.0)  # margin never reached: the loudest threshold's level


def read_activlev_file(path):
    """{utterance id: level} from a pywsj0-mix activlev file ("<utt> <level>" per line)."""
    levels = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise ValueError(f"{path}:{number}: expected '<utterance id> <level>', got {line.strip()!r}.")
            try:
                levels[parts[0]] = float(parts[1])
            except ValueError:
                raise ValueError(f"{path}:{number}: level {parts[1]!r} is not a number.") from None
    if not levels:
        raise ValueError(f"{path}: no levels in it (expected '<utterance id> <level>' lines).")
    return levels
