"""A small fake LibriSpeech tree in the real layout (flac, trans.txt), for tests (seconds to build)."""

import os

import numpy as np
import soundfile as sf

from fake_corpus import tone

WORDS = ("THE CAT SAT ON A MAT HE SAID IT'S TIME TO GO HOME NOW WHEN SHE WAS YOUNG HER FATHER KEPT "
         "HORSES IN THE VALLEY BEYOND OLD MILL RIVER WHERE MORNING LIGHT FELL QUIETLY ACROSS GREEN "
         "FIELDS").split()


def make_librispeech(root, subsets=("train-clean-100", "dev-clean", "dev-other", "test-clean", "test-other"),
                     speakers=2, chapters=1, utts=3, seconds=(0.6, 1.2), sr=16000, seed=0):
    """ROOT/LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac + <spk>-<chapter>.trans.txt.

    utts: per chapter, an int or {subset: int}. Returns {subset: {uid: (path, text)}}.
    """
    rng = np.random.default_rng(seed)
    made = {}
    for s_index, subset in enumerate(subsets):
        made[subset] = {}
        for k in range(speakers):
            spk = str(100 + 10 * s_index + k)
            for c in range(chapters):
                chapter = str(2000 + 7 * k + c)
                folder = os.path.join(root, "LibriSpeech", subset, spk, chapter)
                os.makedirs(folder, exist_ok=True)
                lines = []
                for u in range(utts[subset] if isinstance(utts, dict) else utts):
                    uid = f"{spk}-{chapter}-{u:04d}"
                    n = int(rng.uniform(*seconds) * sr)
                    path = os.path.join(folder, uid + ".flac")
                    sf.write(path, tone(n, sr, int(rng.integers(1 << 30))), sr, format="FLAC")
                    text = " ".join(rng.choice(WORDS, int(rng.integers(3, 9))))
                    lines.append(f"{uid} {text}")
                    made[subset][uid] = (path, text)
                with open(os.path.join(folder, f"{spk}-{chapter}.trans.txt"), "w") as f:
                    f.write("\n".join(lines) + "\n")
    return made


def make_read_only(path):
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444)
        os.chmod(dirpath, 0o555)


def make_writable(path):
    for dirpath, dirnames, filenames in os.walk(path):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
