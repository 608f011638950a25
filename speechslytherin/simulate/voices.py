"""Which speech sources the machine has: TTS engines, their voices, recorded prompts.

The mini corpus is built only from Debian `main` packages. This module finds them, says
which are missing with the exact `apt-get install` line, and describes every speaker:
a TTS speaker is one voice of one engine (for eSpeak NG one accent + one variant), a real
speaker is one person who recorded Asterisk prompts (one person may have recorded several
languages; those recordings share a speaker).
"""

import gzip
import os
import shutil
import subprocess
from dataclasses import dataclass, field

ASTERISK_SOUNDS = "/usr/share/asterisk/sounds"
ASTERISK_DOCS = "/usr/share/doc"
FESTIVAL_VOICES = "/usr/share/festival/voices"


class MissingPackageError(RuntimeError):
    """A Debian package the mini corpus needs is not installed; the message has the fix."""


@dataclass(frozen=True)
class PromptSet:
    """One folder of Asterisk prompts recorded by one person, with its transcript file."""

    person: str
    folder: str
    language: str
    package: str
    transcript_package: str = ""
    transcript_file: str = ""


# Real recorded speakers (8 kHz studio prompts). Allison Smith recorded both the English and
# the Mexican-Spanish core sounds, so both folders are one speaker.
PROMPT_SETS = (
    PromptSet("allison", "en_US_f_Allison", "en", "asterisk-core-sounds-en-wav",
              "asterisk-core-sounds-en", "asterisk-core-sounds-en/core-sounds-en.txt.gz"),
    PromptSet("allison", "es_MX_f_Allison", "es", "asterisk-core-sounds-es-wav",
              "asterisk-core-sounds-es", "asterisk-core-sounds-es/core-sounds-es.txt.gz"),
    PromptSet("june", "fr_CA_f_June", "fr", "asterisk-core-sounds-fr-wav",
              "asterisk-core-sounds-fr", "asterisk-core-sounds-fr/core-sounds-fr.txt.gz"),
    PromptSet("carlo", "it_IT_m_Carlo", "it", "asterisk-core-sounds-it-wav",
              "asterisk-core-sounds-it", "asterisk-core-sounds-it/core-sounds-it.txt.gz"),
    PromptSet("ivrvoice", "ru_RU_f_IvrvoiceRU", "ru", "asterisk-core-sounds-ru-wav",
              "asterisk-core-sounds-ru", "asterisk-core-sounds-ru/core-sounds-ru.txt.gz"),
    # Marco Menardi's Italian prompts ship without a transcript file.
    PromptSet("menardi", "it_IT_f_Menardi", "it", "asterisk-prompt-it-menardi-wav"),
)

# eSpeak NG English accents and the variants (voice qualities) that sound like a person
# (the robot, whisper, croak ... variants are left out).
ESPEAK_ACCENTS = (
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
    "en-029", "en-us-nyc",
)
ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "adam", "Alex", "Andy", "Annie", "anika", "aunty",
    "belinda", "benjamin", "boris", "caleb", "david", "edward", "Gene", "grandma", "grandpa",
    "Jacky", "john", "Lee", "linda", "max", "Michael", "Mike", "michel", "norbert", "paul",
    "quincy", "rob", "robert", "shelby", "steph", "travis", "victor", "zac",
)
# flite voice -> person (CMU ARCTIC / diphone speakers). kal and kal16 are the same diphones.
FLITE_VOICES = {"kal16": "kal", "awb": "awb", "rms": "rms", "slt": "slt"}
# festival voice -> (person, package); kal_diphone repeats flite's kal, so it is not used.
FESTIVAL_VOICE_PACKAGES = {
    "ked_diphone": ("ked", "festvox-kdlpc16k", "english/ked_diphone"),
    "cmu_us_slt_arctic_hts": ("slt", "festvox-us-slt-hts", "us/cmu_us_slt_arctic_hts"),
}

REQUIRED_PACKAGES = ("espeak-ng", "flite") + tuple(
    dict.fromkeys(p for s in PROMPT_SETS for p in (s.package, s.transcript_package) if p)
)
OPTIONAL_PACKAGES = ("festival", "festvox-kdlpc16k", "festvox-us-slt-hts")


@dataclass
class Inventory:
    """What was found: engines, voices, prompt sets; and what is missing."""

    espeak_variants: list = field(default_factory=list)
    flite_voices: list = field(default_factory=list)
    festival_voices: list = field(default_factory=list)
    prompt_sets: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    missing_optional: list = field(default_factory=list)

    def describe(self):
        return (
            f"espeak-ng variants: {len(self.espeak_variants)}; flite voices: {self.flite_voices}; "
            f"festival voices: {self.festival_voices}; recorded prompt sets: "
            f"{[s.folder for s in self.prompt_sets]}"
        )

    def signature(self):
        """What the corpus content depends on (stored in the .complete marker)."""
        return {
            "espeak_variants": list(self.espeak_variants),
            "flite_voices": list(self.flite_voices),
            "festival_voices": list(self.festival_voices),
            "prompt_sets": [s.folder for s in self.prompt_sets],
        }


def apt_install_line(packages):
    return "apt-get install -y --no-install-recommends " + " ".join(packages)


def _espeak_variants():
    if shutil.which("espeak-ng") is None:
        return []
    out = subprocess.run(
        ["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=False
    ).stdout
    found = {line.split()[-1].split("/")[-1] for line in out.splitlines()[1:] if line.strip()}
    found_lower = {name.lower(): name for name in found}
    return [found_lower[v.lower()] for v in ESPEAK_VARIANTS if v.lower() in found_lower]


def _flite_voices():
    if shutil.which("flite") is None:
        return []
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=False).stdout
    listed = set(out.replace("Voices available:", "").split())
    return [v for v in FLITE_VOICES if v in listed]


def _festival_voices():
    if shutil.which("festival") is None:
        return []
    return [
        name for name, (_, _, rel) in FESTIVAL_VOICE_PACKAGES.items()
        if os.path.isdir(os.path.join(FESTIVAL_VOICES, rel))
    ]


def _has_wavs(folder):
    try:
        return any(name.endswith(".wav") for name in os.listdir(folder))
    except OSError:
        return False


def find_inventory():
    """Look for every engine, voice and prompt set; never raises."""
    inv = Inventory()
    inv.espeak_variants = _espeak_variants()
    if not inv.espeak_variants:
        inv.missing.append("espeak-ng")
    inv.flite_voices = _flite_voices()
    if len(inv.flite_voices) < len(FLITE_VOICES):
        inv.missing.append("flite")
    for prompt_set in PROMPT_SETS:
        ok = True
        if not _has_wavs(os.path.join(ASTERISK_SOUNDS, prompt_set.folder)):
            inv.missing.append(prompt_set.package)
            ok = False
        if prompt_set.transcript_file and not os.path.isfile(
            os.path.join(ASTERISK_DOCS, prompt_set.transcript_file)
        ):
            inv.missing.append(prompt_set.transcript_package)
            ok = False
        if ok:
            inv.prompt_sets.append(prompt_set)
    inv.missing = list(dict.fromkeys(inv.missing))
    inv.festival_voices = _festival_voices()
    if shutil.which("festival") is None:
        inv.missing_optional.append("festival")
    for name, (_, package, _) in FESTIVAL_VOICE_PACKAGES.items():
        if name not in inv.festival_voices:
            inv.missing_optional.append(package)
    return inv


def require_inventory():
    """The inventory, or MissingPackageError naming the packages and the install line."""
    inv = find_inventory()
    if inv.missing:
        raise MissingPackageError(
            "the mini corpus needs Debian packages that are not installed: "
            f"{', '.join(inv.missing)}.\nInstall them (as root):\n  apt-get update && "
            f"{apt_install_line(inv.missing + inv.missing_optional)}\n"
            f"(or run tools/install_system_packages.sh). Found so far: {inv.describe()}"
        )
    return inv


def read_prompt_transcripts(prompt_set):
    """{relative prompt path without .wav: transcript} from the package's core-sounds-XX.txt.gz."""
    if not prompt_set.transcript_file:
        return {}
    path = os.path.join(ASTERISK_DOCS, prompt_set.transcript_file)
    transcripts = {}
    with gzip.open(path, "rt", encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(";") or ":" not in line:
                continue
            key, text = line.split(":", 1)
            transcripts[key.strip()] = text.strip()
    return transcripts


def list_prompts(prompt_set):
    """Sorted relative paths (without .wav) of every prompt in the set's folder."""
    root = os.path.join(ASTERISK_SOUNDS, prompt_set.folder)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            if name.endswith(".wav"):
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                found.append(rel[: -len(".wav")])
    return sorted(found)
